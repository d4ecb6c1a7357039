"""The session host's pacing: one thread sends every held number's ready queue at its slots.

Workers route paced messages into per-number ready queues in Redis (``workers.queue.ready``) and
wake the hosts. This scheduler keeps, for each held number with messages waiting, the moment its
next slot opens, and sleeps on a condition until the earliest one or until woken: one wake-up
per due send, no thread per number and no polling. At a due time it takes the queue's head in
one script (which spends the slot on Redis' clock, shared with every host and worker) and hands
it to a small pool that sends it through the host's own claim-and-send code; the answer goes to
the session-event stream as a ``send_result`` event, which a worker folds into PostgreSQL.

A number that is not connected, or no longer held by any host, has its queue emptied at once,
every message answered as not sent, so the fold routes them to another number.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import redis

from workers.queue import keys, ready
from workers.queue.contracts import EventKind

if TYPE_CHECKING:
    from workers.session_host.host import SessionHost

log = logging.getLogger(__name__)

# Most sends in flight at once: sends of one number never overlap, so this bounds how many
# numbers may be inside a slow send (a typing pause, a client that answers late) together.
SENDERS = 32
# How long to wait before looking at a number again after Redis failed.
RETRY_S = 1.0
# A message taken this long ago whose outcome was never folded is queued again.
FLIGHT_STALE_MS = 30_000


class ReadyScheduler:
    def __init__(self, host: SessionHost, senders: int = SENDERS) -> None:
        self.host = host
        self.redis = host.redis
        self._cond = threading.Condition()
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}  # number -> when it is looked at next (monotonic)
        self._sending: set[str] = set()  # numbers with a send in flight
        self._woken: set[str] = set()  # numbers woken while a send was in flight
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="ready-send")
        self._thread = threading.Thread(target=self._run, name="ready", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wake(self, session_ids: list[str], delay_s: float = 0.0) -> None:
        """Look at these numbers' queues now (or after ``delay_s``)."""
        when = time.monotonic() + delay_s
        with self._cond:
            for session_id in session_ids:
                if session_id in self._sending:
                    self._woken.add(session_id)
                else:
                    self._at(session_id, when)
            self._cond.notify()

    def sweep(self, session_ids: list[str]) -> None:
        """Wake the numbers among ``session_ids`` with messages waiting that no wake-up
        reached (a host that just took the number, a wake-up lost with a connection)."""
        with self._cond:
            idle = [s for s in session_ids if s not in self._sending]
        # A message taken long ago and never settled (its event lost with Redis' data, its
        # send cut off by a Redis outage) goes back to its queue.
        stale = [sid for sid in idle if ready.recover(self.redis, sid, FLIGHT_STALE_MS)]
        with self._cond:
            idle = [s for s in idle if s not in self._due and s not in self._sending]
        if idle:
            depths = ready.depths(self.redis, idle)
            self.wake([sid for sid, depth in depths.items() if depth] + stale)

    def _at(self, session_id: str, when: float) -> None:
        """Under the condition: look at the number at ``when`` unless it is due sooner."""
        if self._due.get(session_id, float("inf")) <= when:
            return
        self._due[session_id] = when
        heapq.heappush(self._heap, (when, session_id))

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    now = time.monotonic()
                    while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
                        heapq.heappop(self._heap)  # superseded by an earlier time
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
                due = []
                while self._heap and self._heap[0][0] <= now:
                    when, session_id = heapq.heappop(self._heap)
                    if self._due.get(session_id) == when:
                        del self._due[session_id]
                        due.append(session_id)
            for session_id in due:
                try:
                    self._turn(session_id)
                except redis.RedisError as exc:
                    log.warning(
                        "ready queue of %s: Redis failed (%s); again shortly", session_id, exc
                    )
                    self.wake([session_id], RETRY_S)
                except Exception:
                    log.exception("ready queue of %s failed; again shortly", session_id)
                    self.wake([session_id], RETRY_S)

    def _turn(self, session_id: str) -> None:
        """The number's slot may be open: send its queue's head, or empty the queue of a
        number that cannot send."""
        host = self.host
        with host._lock:
            transport = host.sessions.get(session_id)
            status = host.state.get(session_id, {}).get("status")
            if session_id in self._sending:
                return
        if transport is None:
            if not self.redis.exists(keys.lease(session_id)):
                self._give_back(
                    session_id,
                    "not_hosted",
                    f"session {session_id} is not held by any session host",
                )
            return  # held by another host, which sends its queue
        if status != "connected":
            self._give_back(session_id, "not_connected", f"{session_id} is not connected")
            return
        taken = ready.take(self.redis, session_id)
        if taken.entry is None:
            if taken.wait_ms is not None:
                self.wake([session_id], taken.wait_ms / 1000)
            return
        with self._cond:
            self._sending.add(session_id)
        started = time.monotonic()
        self._pool.submit(self._send, session_id, transport, taken, started)

    def _send(self, session_id: str, transport: Any, taken: ready.Taken, started: float) -> None:
        entry = taken.entry
        assert entry is not None
        try:
            params = {
                "messages": [entry.message],
                "min_gap_ms": entry.gap_ms,
                "typing_ms": entry.typing_ms,
            }
            result = self.host._send_batch(session_id, transport, params)["results"][0]
            self._publish(session_id, [(entry, result)])
        except Exception:
            # Claiming failed (Redis): the message goes back to its queue (or, Redis still
            # failing, the number's next host puts it back); sent once either way.
            log.exception("message %s: the send from the ready queue failed", entry.message_id)
            try:
                ready.recover(self.redis, session_id)
            except redis.RedisError:
                log.warning("session %s: its message in flight waits for Redis", session_id)
        finally:
            with self._cond:
                self._sending.discard(session_id)
                woken = session_id in self._woken
                self._woken.discard(session_id)
                if taken.left or woken:
                    self._at(session_id, max(started + (taken.wait_ms or 0) / 1000, 0))
                    self._cond.notify()

    def _give_back(self, session_id: str, code: str, reason: str) -> None:
        """Empty the queue at once: every message answered as not sent by this number."""
        entries = ready.drain(self.redis, session_id)
        if entries:
            log.info(
                "session %s cannot send (%s): %d queued message(s) given back",
                session_id,
                code,
                len(entries),
            )
            refusal = {"state": "error", "code": code, "error": reason}
            self._publish(session_id, [(entry, refusal) for entry in entries])

    def _publish(self, session_id: str, answers: list[tuple[ready.Entry, dict]]) -> None:
        results = [
            {
                "message_id": entry.message_id,
                "capped": entry.capped,
                "marked": entry.marked,
                "result": result,
            }
            for entry, result in answers
        ]
        self.host._publish(session_id, EventKind.SEND_RESULT, {"results": results})
