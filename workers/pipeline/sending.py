"""Sending stored messages: route them, wait for the number's slots, call the session host.

Each attempt walks the routes of the messages' policy (see ``routing``): the best number is
asked for send slots from the pacer, then the session host sends. A number that fails is put in
back-off and the next one tried at once. With none left the messages are ``unsent`` and the
actor retries later; a slot too far away gives them back to the queue (``later``). A send that
fails because of its recipient (not on WhatsApp, WhatsApp's limits on new contacts) or whose
answer never came (it may have gone out) is settled alone: the number is not blamed.

Bulk jobs send batches of rows: one query loads them, one pacer grant and one session-host call
covers as many as the number may send at once (all of them when it is not paced, one at a time
when it is), and one statement marks them sent. A single message is a batch of one. The session
host refuses a second send of the same message, so retries never reach a customer twice.

What no number may send now is held, not failed: its row keeps the code of the hold
(``routing.HOLDS``: a spent daily cap or warm-up allowance, quiet hours, no number able to send)
and the earliest time it may go, and the message goes back to the queue to look again. A
number's cap is taken atomically before each send (``routing.take_sends``).
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from webapp import settings
from webapp.core import quiet_hours
from webapp.core.errors import KabarError, NoSessionAvailable, SessionUnavailable
from webapp.core.phone import Recipient
from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession, WhatsAppTemplate, as_utc
from webapp.redis_client import get_redis
from workers.pipeline import attachments, fallback, optout, routing, sessions, webhooks
from workers.pipeline.pacer import GiveBack, Pacer, ticket_score
from workers.queue import jobs, keys, ready
from workers.queue.contracts import Band, MessageStatus, RpcCode, RpcMethod, SendState

log = logging.getLogger(__name__)

# What a message held by quiet hours waits for, in place of a number's slot.
QUIET_HOURS = "quiet-hours"
# A message that is sent, failed, retried or cancelled no longer waits for a limit.
NOT_HELD = {"held_reason": None, "held_until": None}
# Most messages in one call to the session host.
MAX_CHUNK = 50
# The session host's answers for a message another call is sending, and for one its batch had
# no time left for (workers.session_host).
SEND_IN_PROGRESS = RpcCode.SEND_IN_PROGRESS
SEND_LATER = RpcCode.LATER
# The code of a call that never reached a session host able to act on it.
UNREACHABLE = RpcCode.NOT_HOSTED
OUTCOME_UNKNOWN = (
    "a session host was sending this message and stopped answering: it may have reached the "
    "customer. Resend only if they did not get it"
)
# Transport errors about the recipient (workers.session_host.transports.base): another number,
# or resting this one, would not help. Refusals fail the message, a reach-out limit holds it
# a while.
RECIPIENT_REFUSALS = (RpcCode.NOT_ON_WHATSAPP, RpcCode.REACH_OUT_REFUSED)
# The attachment was refused (the number goes on), or its bytes were not in Redis (sent again).
MEDIA_REJECTED = RpcCode.MEDIA_REJECTED
MEDIA_MISSING = RpcCode.MEDIA_MISSING
REACH_OUT_LIMITED = RpcCode.REACH_OUT_LIMITED
REACH_OUT_HOLD_MS = 3_600_000
# WhatsApp never confirmed the send: it may have gone out, so it is never sent again by itself.
SEND_UNCERTAIN = RpcCode.SEND_UNCERTAIN
SEND_UNCERTAIN_REASON = (
    "WhatsApp did not confirm this message after it was sent: it may have reached the "
    "customer. Resend only if they did not get it"
)


@dataclass(frozen=True)
class Outgoing:
    """What sending needs of a row, read once so no database connection is held while waiting."""

    id: int
    jid: str
    text: str
    band: str
    priority: int
    policy: str
    pinned_session_id: str | None
    created_ms: int
    phone: str = ""
    category: str | None = None  # of the template, for opt-out and quiet hours
    waiting_since_ms: int | None = None  # since when it waits for a number able to send
    # The attachment (``media.prepare`` makes it the wire form's descriptor); None for text.
    media: dict | None = None


@dataclass
class Outcome:
    """What an attempt did with a batch: sent (``duplicate`` were sent by an earlier attempt),
    skipped (opted out), ``later`` (given back for ``later_ms``: quiet hours or a slot too far
    away), ``unsent`` (no number could send them: retry) with the reasons, and ``unknown``
    (another call is sending them, or its session host stopped mid-send: retry, and fail with
    OUTCOME_UNKNOWN if it never ends)."""

    sent: int = 0
    duplicate: int = 0
    skipped: int = 0
    later: list[int] = field(default_factory=list)
    later_ms: int = 0
    unsent: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)  # another call is sending them
    # Sends a reachable number refused (an attempt spent), as against numbers that could not
    # be reached or may not send now (a wait, which spends none).
    failures: int = 0
    failed: int = 0  # refused because of the recipient, or sent without a confirmation
    handed: int = 0  # put into a paced number's ready queue: its host sends them

    def give_back(self, ids: list[int], delay_ms: int) -> None:
        self.later_ms = min(self.later_ms, delay_ms) if self.later else delay_ms
        self.later += ids

    @property
    def reason(self) -> str:
        return "no connected session could send: " + "; ".join(self.errors)


def load(message_ids: list[int], job_id: str | None = None) -> list[Outgoing]:
    """The messages among ``message_ids`` that still wait to be sent, oldest first; with
    ``job_id``, only those that job still owns (a row given back, or queued again by the
    reconciler, belongs to its new job)."""
    M, T = WhatsAppMessage, WhatsAppTemplate
    rows = db.session.execute(
        sa.select(
            M.media_type,
            M.media_url,
            M.media_sha256,
            M.media_file_name,
            M.media_mimetype,
            M.id,
            M.to_number,
            M.content,
            M.band,
            M.priority,
            M.routing,
            M.pinned_session_id,
            M.created_at,
            M.waiting_since,
            T.category,
        )
        .outerjoin(T, T.id == M.template_id)
        .where(
            M.id.in_(message_ids),
            M.status == MessageStatus.QUEUED,
            M.job_id == job_id if job_id is not None else sa.true(),
        )
        .order_by(M.id)
    ).all()
    db.session.rollback()  # release the connection before waiting for a slot
    return [
        Outgoing(
            id=row.id,
            jid=Recipient(row.to_number).jid,
            text=row.content,
            band=row.band,
            priority=row.priority,
            policy=row.routing or routing.default_policy(row.band),
            pinned_session_id=row.pinned_session_id,
            created_ms=int(as_utc(row.created_at).timestamp() * 1000),
            waiting_since_ms=(
                int(as_utc(row.waiting_since).timestamp() * 1000) if row.waiting_since else None
            ),
            phone=row.to_number,
            category=row.category,
            media=_attachment(row),
        )
        for row in rows
    ]


def _attachment(row: sa.Row) -> dict | None:
    if not row.media_type:
        return None
    return {
        "type": row.media_type,
        "url": row.media_url,
        "sha256": row.media_sha256,
        "fileName": row.media_file_name,
        "mimetype": row.media_mimetype,
    }


def wire_message(message: Outgoing) -> dict:
    """What the session host is given to send ``message``, for a ``send_batch`` call and for a
    ready queue alike (the only place its wire form is built): small, as paced sends wait in
    Redis queues (an attachment is described; its bytes wait in Redis apart)."""
    wire = {"message_id": message.id, "jid": message.jid, "text": message.text}
    if message.media is not None:
        wire["media"] = message.media
    return wire


def deliver(message_id: int) -> str:
    """Send message ``message_id`` unless it is no longer queued; return what happened.

    Raises NoSessionAvailable (retry later) or GiveBack (re-queue without counting an attempt).
    """
    outcome = deliver_batch([message_id])
    if outcome.unsent:
        raise NoSessionAvailable(outcome.reason)
    if outcome.unknown:
        raise NoSessionAvailable(OUTCOME_UNKNOWN)
    if outcome.later:
        raise GiveBack(QUIET_HOURS, outcome.later_ms)
    if outcome.failed:
        return MessageStatus.FAILED
    if outcome.skipped:
        return MessageStatus.SKIPPED
    if outcome.duplicate:
        return "duplicate"
    if outcome.handed:
        return "handed"  # to a paced number's ready queue: its session host sends it
    return MessageStatus.SENT if outcome.sent else "not queued"


def deliver_batch(message_ids: list[int], job_id: str | None = None) -> Outcome:
    """Send the still-queued messages among ``message_ids`` (those job ``job_id`` owns, when
    given); see ``Outcome``."""
    outcome = Outcome()
    waiting = []
    messages = _with_media_ready(load(message_ids, job_id), outcome)
    covered = [m.phone for m in messages if optout.applies(m.band, m.category)]
    opted_out = optout.opted_out_among(covered) if covered else set()
    quiet: dict[int, list[int]] = {}
    for message in messages:
        if message.phone in opted_out and optout.applies(message.band, message.category):
            outcome.skipped += optout.skip(message.id)
        elif (hold_ms := quiet_hours.wait_ms(message.category)) > 0:
            quiet.setdefault(hold_ms, []).append(message.id)
        else:
            waiting.append(message)
    for hold_ms, ids in quiet.items():
        until = datetime.now(UTC) + timedelta(milliseconds=hold_ms)
        _hold(ids, routing.QUIET_HOURS, until)
        outcome.give_back(ids, hold_ms)
    groups: dict[tuple[str, str | None, str], list[Outgoing]] = {}
    for message in waiting:
        key = (message.policy, message.pinned_session_id, message.band)
        groups.setdefault(key, []).append(message)
    for i, (key, group) in enumerate(groups.items()):
        try:
            _send_group(*key[:2], group, outcome)
        except _Waited as exc:
            rest = [m.id for later in list(groups.values())[i + 1 :] for m in later]
            outcome.give_back([*exc.pending, *rest], exc.delay_ms)
            _unhold(exc.pending)  # a number may send them: they wait for its slot, not a limit
            break
    return outcome


def _with_media_ready(messages: list[Outgoing], outcome: Outcome) -> list[Outgoing]:
    """The messages whose attachments are ready to send (fetched, stored, staged for the session
    host); one that cannot be fetched fails now, before any number is spent on it."""
    if not any(m.media for m in messages):
        return messages
    ready, failed = attachments.prepare(messages)
    for message_id, reason in failed.items():
        log.info("message %s not sent: its attachment is not ready (%s)", message_id, reason)
        outcome.failed += _fail_now(message_id, reason)
    return ready


def _unhold(ids: list[int]) -> None:
    """These no longer wait for a limit or a number (one may send them, its slot is ahead)."""
    M = WhatsAppMessage
    db.session.execute(
        sa.update(M).where(M.id.in_(ids), M.held_reason.is_not(None)).values(**NOT_HELD)
    )
    db.session.commit()


class _Waited(GiveBack):
    """GiveBack carrying the messages of the group that were not sent."""

    def __init__(self, cause: GiveBack, pending: list[int]) -> None:
        super().__init__(cause.session_id, cause.delay_ms)
        self.pending = pending


def _send_group(policy: str, pinned: str | None, group: list[Outgoing], outcome: Outcome) -> None:
    """Send messages that share routes; what no number could send ends in ``outcome.unsent``."""
    pacer = Pacer(get_redis())
    typing_ms = settings.get("typing_ms")
    pending = list(group)
    failed: set[str] = set()
    spent: set[str] = set()  # numbers whose cap other senders spent meanwhile
    # A job waits for one slot at most; after a paced send it goes on only while the next slot
    # is free at once, and gives the rest back otherwise, so a batch never holds a worker
    # thread for its whole length while maintenance work (folds, expansions) waits for one.
    max_park = current_app.config["MAX_PARK_MS"].get(group[0].band, 30_000)
    band = group[0].band
    while pending:
        usable = [
            r
            for r in routing.routes(policy, pinned, band)
            if r.session_id not in failed and r.session_id not in spent
        ]
        db.session.rollback()
        if not usable:
            held = routing.hold(policy, pinned, band)
            if not outcome.failures and _may_wait(pending, held.limited):
                _wait_for_a_number(held, pending, outcome)
                return
            if not outcome.errors:
                outcome.errors.append(held.reason)
            outcome.unsent += [m.id for m in pending]
            return
        route = usable[0]
        gap_ms, size = pace(route, typing_ms)
        if current_app.config["PACE_ON_HOST"] and (gap_ms or route.jitter_ms):
            candidates = usable if policy == "spread" else usable[:1]
            # A number no session host holds would keep its queue unsent: it is passed over
            # and rested, as when a call to it finds no host.
            if unheld := ready.unheld(get_redis(), [r.session_id for r in candidates]):
                for session_id in unheld:
                    _blame(
                        session_id,
                        len(pending),
                        f"session {session_id} is not held by any session host",
                        outcome,
                    )
                failed |= unheld
                continue
            _queue_paced(candidates, pending, outcome, typing_ms)
            return
        chunk, first = pending[:size], pending[0]
        try:
            # Under failover a busy primary is waited for; only an error moves to the next one.
            pacer.acquire(
                route.session_id,
                str(first.id),
                ticket_score(first.band, first.priority, first.created_ms),
                gap_ms,
                route.jitter_ms,
                max_park_ms=max_park,
                slots=len(chunk),
            )
        except GiveBack as exc:
            raise _Waited(exc, [m.id for m in pending]) from exc
        pending = pending[len(chunk) :]
        if gap_ms:
            max_park = 0
        # A row paused or cancelled while this batch waited for the slot stays unsent.
        chunk = _still_queued(chunk)
        if route.cap is not None and chunk:
            # The cap is checked again atomically: another thread may have used it meanwhile.
            allowed = routing.take_sends(route.session_id, route.cap, len(chunk))
            if allowed < len(chunk):
                spent.add(route.session_id)
                pending = chunk[allowed:] + pending
                chunk = chunk[:allowed]
        if not chunk:
            continue
        refused, later = _send_chunk(route, chunk, outcome, gap_ms, typing_ms)
        if refused:
            failed.add(route.session_id)
        pending = later + refused + pending


def _queue_paced(
    usable: list[routing.Route], pending: list[Outgoing], outcome: Outcome, typing_ms: int
) -> None:
    """Hand paced messages to their numbers' ready queues (``workers.queue.ready``), where the
    session host sends them one per slot; the outcome of each comes back as a ``send_result``
    event (``settle_results``). A bulk batch is spread over ``usable`` by their load, the
    soonest free position first, but never more than PACE_LOOKAHEAD_SLOTS of a number's slots
    ahead: the rest goes back to the queue for about when room opens. Urgent and
    normal messages always go in (ahead of any bulk, by their score)."""
    client = get_redis()
    slots = current_app.config["PACE_LOOKAHEAD_SLOTS"]
    load = Pacer(client).load([r.session_id for r in usable])
    by_id = {r.session_id: r for r in usable}
    gaps = {r.session_id: max(r.interval_ms, typing_ms) + r.jitter_ms / 2 for r in usable}
    lookahead = {sid: slots * gap for sid, gap in gaps.items()}
    # (when the number's next free position comes, in ms from now; its place in the order)
    at_of = {sid: wait + depth * gaps[sid] for sid, (wait, depth) in load.items()}
    free = [(at_of[r.session_id], i, r.session_id) for i, r in enumerate(usable)]
    room = {r.session_id: r.left_today for r in usable}  # None: no cap
    planned: dict[str, list[Outgoing]] = {}
    rest: list[Outgoing] = []
    heapq.heapify(free)
    for message in pending:
        while free:
            at, order, session_id = free[0]
            full = message.band == Band.BULK and at >= lookahead[session_id]
            if room[session_id] == 0 or full:
                heapq.heappop(free)
                continue
            break
        if not free:
            rest.append(message)
            continue
        planned.setdefault(session_id, []).append(message)
        if room[session_id] is not None:
            room[session_id] -= 1
        at_of[session_id] = at + gaps[session_id]
        heapq.heapreplace(free, (at_of[session_id], order, session_id))
    for session_id, messages in planned.items():
        route = by_id[session_id]
        if route.cap is not None:
            # Checked again atomically: another worker may have used the cap meanwhile.
            allowed = routing.take_sends(session_id, route.cap, len(messages))
            rest += messages[allowed:]
            planned[session_id] = messages[:allowed]
    handed, marked = _hand_over([m for group in planned.values() for m in group], outcome)
    kept = {m.id for m in handed}
    entries: dict[str, list[ready.Entry]] = {}
    for session_id, messages in planned.items():
        route = by_id[session_id]
        if route.cap is not None:
            routing.untake_sends(session_id, sum(1 for m in messages if m.id not in kept))
        entries[session_id] = [
            ready.Entry(
                message=wire_message(m),
                gap_ms=max(route.interval_ms, typing_ms),
                jitter_ms=route.jitter_ms,
                typing_ms=typing_ms,
                capped=route.cap is not None,
                marked=m.id in marked,
                score=ticket_score(m.band, m.priority, m.created_ms),
            )
            for m in messages
            if m.id in kept
        ]
    # Rows paused or cancelled since they were loaded are left out: they did not go.
    for session_id, stopped in ready.put(client, entries, _queued_among).items():
        if by_id[session_id].cap is not None:
            routing.untake_sends(session_id, len(stopped))
        _unhand([i for i in stopped if i in marked])
    _unhold([m.id for m in pending])  # a number sends them, or its slots are ahead: no limit
    outcome.handed += len(kept)
    if rest:
        # Room opens on a number once its queue reaches back inside the look-ahead; with
        # others waiting for it too, once the messages ahead in the line have gone (they come
        # back half a look-ahead early, so the numbers never run dry).
        opens = min(
            (at - lookahead[sid] + gaps[sid] for sid, at in at_of.items() if room[sid] != 0),
            default=max(gaps.values()),
        )
        per_message_ms = 1 / sum(1 / gaps[r.session_id] for r in usable)
        line_ms = ready.reserve(client, pending[0].band, len(rest) * per_message_ms)
        delay = max(opens, line_ms - min(lookahead.values()) / 2)
        outcome.give_back([m.id for m in rest], int(min(max(delay, 500), 600_000)))


def _may_wait(pending: list[Outgoing], limited: bool) -> bool:
    """Whether these messages may still wait for a number without spending an attempt: always
    while only limits (daily caps, warm-up) hold the numbers back, else for WAIT_FOR_NUMBER_S
    from when they began to wait."""
    if limited:
        return True
    limit_ms = current_app.config["WAIT_FOR_NUMBER_S"] * 1000
    now_ms = datetime.now(UTC).timestamp() * 1000
    began = min(m.waiting_since_ms or now_ms for m in pending)
    return now_ms - began < limit_ms


def _wait_for_a_number(held: routing.Hold, pending: list[Outgoing], outcome: Outcome) -> None:
    """No number can send now (all resting, unhosted, not connected or at their cap): the
    messages go back to the queue until one may, holding the true reason on their rows."""
    ids = [m.id for m in pending]
    detail = f"waiting for a number that can send: {held.reason}"
    _hold(ids, held.code, held.until, detail, outage=not held.limited)
    outcome.give_back(ids, min(max(held.wait_ms, 500), 60_000))


def _hold(
    ids: list[int],
    code: str,
    until: datetime | None,
    detail: str | None = None,
    outage: bool = False,
) -> None:
    """Record on the still-queued rows why they wait (a code of ``routing.HOLDS``) and the
    earliest time they may go. An ``outage`` starts their WAIT_FOR_NUMBER_S (once); a limit or
    quiet hours stop it, so a night held by either never counts against a later outage."""
    M = WhatsAppMessage
    since = sa.func.coalesce(M.waiting_since, sa.func.now()) if outage else None
    values: dict = {"held_reason": code, "held_until": until, "waiting_since": since}
    if detail is not None:
        values["error_message"] = detail
    db.session.execute(
        sa.update(M).where(M.id.in_(ids), M.status == MessageStatus.QUEUED).values(**values)
    )
    db.session.commit()


def pace(route: routing.Route, typing_ms: int) -> tuple[int, int]:
    """(least ms between two sends of the number, how many messages one call may carry).

    "typing..." holds the number that long before each send: it is never paced faster. An
    unpaced number takes a whole chunk at once; a paced one a message per slot, so a batch never
    holds a number's slots ahead of more urgent messages, nor a session-host call for long, and
    every send gets its own jitter. Never past the number's daily cap or warm-up allowance.
    """
    gap_ms = max(route.interval_ms, typing_ms)
    size = MAX_CHUNK if gap_ms == 0 and route.jitter_ms == 0 else 1
    if route.left_today is not None:
        size = min(size, route.left_today)
    return gap_ms, size


def _still_queued(chunk: list[Outgoing]) -> list[Outgoing]:
    queued = _queued_among([m.id for m in chunk])
    return [m for m in chunk if m.id in queued]


def _queued_among(ids: list[int]) -> set[int]:
    M = WhatsAppMessage
    queued = set(
        db.session.scalars(sa.select(M.id).where(M.id.in_(ids), M.status == MessageStatus.QUEUED))
    )
    db.session.rollback()
    return queued


def _send_chunk(
    route: routing.Route, chunk: list[Outgoing], outcome: Outcome, gap_ms: int, typing_ms: int
) -> tuple[list[Outgoing], list[Outgoing]]:
    """One call to the session host; returns the messages the number could not send, and
    those the call had no time left for (to send next, through the same number)."""
    # The host stops the batch well before this call times out, so a batch never goes on
    # sending after its caller gave up on it.
    timeout = current_app.config["RPC_TIMEOUT_S"]
    taken = len(chunk) if route.cap is not None else 0  # counted by routing.take_sends
    chunk, marked = _hand_over(chunk, outcome)
    if taken:
        routing.untake_sends(route.session_id, taken - len(chunk))  # never handed over
    if not chunk:
        return [], []
    try:
        answer = sessions.host_call(
            route.session_id,
            RpcMethod.SEND_BATCH,
            messages=[wire_message(m) for m in chunk],
            min_gap_ms=gap_ms,
            typing_ms=typing_ms,
            budget_s=timeout / 2,
        )
        results = answer["results"]
    except KabarError as exc:
        # not_hosted / not_connected: nothing went out; timeout / host_gone: it may have.
        code = (
            getattr(exc.__cause__, "code", UNREACHABLE)
            if isinstance(exc, SessionUnavailable)
            else None
        )
        results = [{"state": SendState.ERROR, "code": code, "error": exc.message}] * len(chunk)
    by_id = {m.id: m for m in chunk}
    refused, later = settle(
        route.session_id, bool(taken), [m.id for m in chunk], results, marked, outcome
    )
    return [by_id[i] for i in refused], [by_id[i] for i in later]


def settle(
    session_id: str,
    capped: bool,
    ids: list[int],
    results: list[dict],
    marked: set[int],
    outcome: Outcome,
) -> tuple[list[int], list[int]]:
    """What the session host answered for ``ids``, in order (a ``send_batch`` call, or one
    message sent from a ready queue), settled: sent rows marked in one statement, the number's
    record kept, caps (``capped``: taken by ``take_sends``) given back for what surely did not
    go out, recipient refusals and uncertain sends failed. Returns the ids the number could not
    send and those it had no time left for; ``marked`` are those the caller handed over."""
    # Rows the caller marked handed over and that surely did not go out are marked no longer.
    _unhand(
        [
            i
            for i, r in zip(ids, results, strict=True)
            if i in marked and r["state"] != SendState.SENT and r.get("code") in NOTHING_WENT_OUT
        ]
    )
    by_code: dict[str | None, list[int]] = {}
    sent = []
    for message_id, result in zip(ids, results, strict=True):
        if result["state"] == SendState.SENT:
            sent.append((message_id, result))
        else:
            by_code.setdefault(result.get("code"), []).append(message_id)
    later = by_code.pop(SEND_LATER, [])
    if missing := by_code.pop(MEDIA_MISSING, []):
        # Redis lost the attachments' bytes before the client read them: nothing went out.
        attachments.restage_for(missing)
        later += missing
    later += _about_the_message(ids, results, by_code, outcome)
    if busy := by_code.pop(SEND_IN_PROGRESS, []):
        # Another call is sending these (or its session host stopped mid-send): no number may
        # send them now, and it is not this number's fault. A retry finds them sent, or in
        # the end they fail saying their outcome is unknown.
        outcome.unknown += busy
    failed = {i for group in by_code.values() for i in group}
    refused = [i for i in ids if i in failed]
    outcome.failures += sum(
        len(group) for code, group in by_code.items() if code not in sessions.UNAVAILABLE
    )
    if capped:
        # What surely did not go out is not counted as sent today.
        surely_not = sum(
            1 for r in results if r["state"] != SendState.SENT and r.get("code") in NOTHING_WENT_OUT
        )
        routing.untake_sends(session_id, surely_not)
    if sent:
        _settle_sent({(session_id, capped): sent}, outcome)
    if refused:
        reason = next(r["error"] for i, r in zip(ids, results, strict=True) if i in failed)
        _blame(session_id, len(refused), reason, outcome)
    return refused, later


def _settle_sent(sent: dict[tuple[str, bool], list[tuple[int, dict]]], outcome: Outcome) -> None:
    """Sends that went out, by (number, counted by ``take_sends`` already): the numbers' day
    counted, their rows marked sent, in one round trip and one statement however many."""
    folded = _folded_already([(i, r) for group in sent.values() for i, r in group])
    sent = {key: [(i, r) for i, r in group if i not in folded] for key, group in sent.items()}
    counts: dict[str, int] = {}
    for (session_id, capped), group in sent.items():
        counts[session_id] = counts.get(session_id, 0) + (0 if capped else len(group))
    routing.record_successes(counts)
    rows = [(i, {"session_id": sid, **r}) for (sid, _), group in sent.items() for i, r in group]
    if not rows:
        return
    _mark_sent(rows)
    outcome.sent += len(rows)
    outcome.duplicate += sum(1 for _, r in rows if r.get("duplicate"))


def _folded_already(sent: list[tuple[int, dict]]) -> set[int]:
    """The rows already marked with these very sends: an outcome folded a second time (its
    folder died between its commit and its acknowledgement) counts nothing again, neither on
    the number, nor against its day, nor to webhook subscribers. The rows stay locked until
    the caller commits, so two folders of the same event never both count it."""
    M = WhatsAppMessage
    wa_ids = {i: r["wa_message_id"] for i, r in sent}
    marked = db.session.execute(
        sa.select(M.id, M.message_id, M.sent_at)
        .where(M.id.in_(list(wa_ids)))
        .order_by(M.id)
        .with_for_update()
    )
    return {i for i, wa_id, at in marked if at is not None and wa_id == wa_ids[i]}


def _blame(session_id: str, count: int, reason: str, outcome: Outcome) -> None:
    """The number could not send ``count`` messages: it rests (``routing.record_failure``)."""
    backoff = routing.record_failure(session_id)
    log.warning(
        "session %s could not send %d message(s) (%s); resting it %d ms",
        session_id,
        count,
        reason,
        backoff,
    )
    outcome.errors.append(f"{session_id}: {reason}")
    _count_error(session_id)


def settle_results(events: list[dict]) -> None:
    """Fold a batch of the session hosts' ``send_result`` events (messages sent from ready
    queues, or emptied from the queue of a number that could not send): what ``settle`` does
    after a ``send_batch`` call, the sends of a number together. What a number could not send
    goes to a new job at once, without spending an attempt, and is routed again (failing over
    to another number); a message whose send another host claimed is given back while that
    host lives, and fails as of unknown outcome once it is gone."""
    outcome = Outcome()
    again: list[int] = []
    sent: dict[tuple[str, bool], list[dict]] = {}
    ready.landed(
        get_redis(),
        [(e["session_id"], int(i["message_id"])) for e in events for i in e.get("results") or []],
    )
    for event in events:
        items = event.get("results") or []
        if all(item["result"]["state"] == SendState.SENT for item in items):
            for item in items:
                sent.setdefault((event["session_id"], bool(item["capped"])), []).append(item)
            continue
        # A number's errors are settled per event: one send, or one emptied queue.
        for capped in (True, False):
            group = [item for item in items if bool(item["capped"]) is capped]
            if group:
                refused, later = _settle_items(event["session_id"], capped, group, outcome)
                again += refused + later
    if sent:
        _settle_sent(
            {
                key: [(int(item["message_id"]), item["result"]) for item in items]
                for key, items in sent.items()
            },
            outcome,
        )
    if again:
        jobs.give_back(again, 100)
    if outcome.later:
        jobs.give_back(outcome.later, outcome.later_ms)
    if outcome.unknown:
        _in_doubt(outcome.unknown)


def _settle_items(
    session_id: str, capped: bool, items: list[dict], outcome: Outcome
) -> tuple[list[int], list[int]]:
    ids = [int(item["message_id"]) for item in items]
    marked = {int(item["message_id"]) for item in items if item.get("marked")}
    return settle(session_id, capped, ids, [item["result"] for item in items], marked, outcome)


def _in_doubt(ids: list[int]) -> None:
    """Messages whose send another call claimed: back to the queue while the host that claimed
    them lives (its own result settles them), failed as of unknown outcome once it is gone."""
    client = get_redis()
    claims = [json.loads(raw or "{}") for raw in client.mget([keys.sent_record(i) for i in ids])]
    pipe = client.pipeline(transaction=False)
    for claim in claims:
        pipe.exists(keys.host(str(claim.get("host") or "")))
    alive = pipe.execute()
    waiting = [i for i, live, claim in zip(ids, alive, claims, strict=True) if live and claim]
    for message_id in ids:
        if message_id not in waiting:
            _fail_now(message_id, OUTCOME_UNKNOWN)
    if waiting:
        jobs.give_back(waiting, 2_000)


# Answers after which the message surely did not go out (the session host never claimed it, or
# dropped its claim), as against time-outs, a host or client that died mid-send, an unconfirmed
# send: those stay handed over.
NOTHING_WENT_OUT = (
    SEND_LATER,
    UNREACHABLE,
    RpcCode.NOT_CONNECTED,
    RpcCode.CHANNEL_KEY_MISMATCH,
    RpcCode.SEND_FAILED,
    RpcCode.TRANSPORT_ERROR,
    *RECIPIENT_REFUSALS,
    REACH_OUT_LIMITED,
    MEDIA_REJECTED,
    MEDIA_MISSING,
)
CLIENT_CRASHED = RpcCode.CLIENT_CRASHED
CLIENT_CRASHED_REASON = (
    "the WhatsApp client of the number sending this message crashed while sending it: it may "
    "have reached the customer. Resend only if they did not get it"
)
LOST_RECORD = (
    "Redis lost the record of this message's send (it restarted or its data was lost) after it "
    "was handed to WhatsApp: it may have reached the customer. Resend only if they did not get it"
)
_RUN_ID_TTL_S = 5.0
_run_id: tuple[float, str] = (0.0, "")


def _redis_run_id(fresh: bool = False) -> str:
    """The run id of the Redis that holds the session hosts' sent records; it changes with
    every restart of Redis, so a record missing under a new run id may have been lost."""
    global _run_id
    read_at, run_id = _run_id
    if fresh or time.monotonic() - read_at > _RUN_ID_TTL_S:
        run_id = str(get_redis().info("server")["run_id"])
        _run_id = (time.monotonic(), run_id)
    return run_id


def _hand_over(chunk: list[Outgoing], outcome: Outcome) -> tuple[list[Outgoing], set[int]]:
    """Record in PostgreSQL that the chunk goes to a session host, before it goes, so "sent at
    most once" holds even when Redis loses the hosts' sent records; return the messages that
    may be sent, and the ids this call marked.

    A message handed over before is sent again only when the host can still tell whether it
    went out: its record is in Redis, or Redis has not restarted since (no record then means
    it never went out). Otherwise it fails now, saying it may have reached the customer."""
    M = WhatsAppMessage
    ids = [m.id for m in chunk]
    first_time = set(
        db.session.scalars(
            sa.update(M)
            .where(M.id.in_(ids), M.handed_at.is_(None))
            .values(handed_at=sa.func.now(), handed_redis=_redis_run_id())
            .returning(M.id)
        )
    )
    db.session.commit()
    again = [m for m in chunk if m.id not in first_time]
    if not again:
        return chunk, first_time
    handed = dict(
        db.session.execute(
            sa.select(M.id, M.handed_redis).where(M.id.in_([m.id for m in again]))
        ).all()
    )
    db.session.rollback()
    pipe = get_redis().pipeline()
    for message in again:
        pipe.exists(keys.sent_record(message.id))
    recorded = pipe.execute()
    now_run = _redis_run_id(fresh=True)
    lost = [
        m
        for m, known in zip(again, recorded, strict=True)
        if not known and handed.get(m.id) != now_run
    ]
    for message in lost:
        log.warning("message %s: its sent record was lost with Redis' data; not resent", message.id)
        outcome.failed += _fail_now(message.id, LOST_RECORD)
    return [m for m in chunk if m not in lost], first_time


def _unhand(ids: list[int]) -> None:
    """These surely did not go out: they are no longer handed over."""
    if ids:
        M = WhatsAppMessage
        db.session.execute(
            sa.update(M).where(M.id.in_(ids)).values(handed_at=None, handed_redis=None)
        )
        db.session.commit()


def _about_the_message(
    ids: list[int],
    results: list[dict],
    by_code: dict[str | None, list[int]],
    outcome: Outcome,
) -> list[int]:
    """Settle the message whose send failed because of itself (its recipient, or an answer that
    never came) without blaming the number; return the messages after it, which the session
    host did not try (they carry its error): to send next, through the same number."""
    failing = next((i for i, r in enumerate(results) if r["state"] == SendState.ERROR), None)
    if failing is None:
        return []
    result = results[failing]
    code = result.get("code")
    if code not in (
        *RECIPIENT_REFUSALS,
        MEDIA_REJECTED,
        REACH_OUT_LIMITED,
        SEND_UNCERTAIN,
        CLIENT_CRASHED,
    ):
        return []
    message_id, untried = ids[failing], ids[failing + 1 :]
    for group in list(by_code.values()):
        group[:] = [i for i in group if i != message_id and i not in untried]
    if code == REACH_OUT_LIMITED:
        M = WhatsAppMessage
        db.session.execute(
            sa.update(M).where(M.id == message_id).values(error_message=result["error"])
        )
        db.session.commit()
        outcome.give_back([message_id], REACH_OUT_HOLD_MS)
    else:
        reason = {SEND_UNCERTAIN: SEND_UNCERTAIN_REASON, CLIENT_CRASHED: CLIENT_CRASHED_REASON}.get(
            code, result["error"]
        )
        outcome.failed += _fail_now(message_id, reason)
    log.info("message %s not sent (%s), its number goes on", message_id, code)
    return untried


def _fail_now(message_id: int, reason: str) -> int:
    """The message failed for a reason no retry can change; 1 if it was still queued."""
    M = WhatsAppMessage
    changed = db.session.scalars(
        sa.update(M)
        .where(M.id == message_id, M.status == MessageStatus.QUEUED)
        .values(
            status=MessageStatus.FAILED, error_message=reason, updated_at=sa.func.now(), **NOT_HELD
        )
        .returning(M.id)
    ).all()
    for row_id in changed:
        webhooks.message_status(row_id, MessageStatus.FAILED)
        fallback.plan(row_id)
    db.session.commit()
    return len(changed)


def _count_error(session_id: str) -> None:
    S = WhatsAppSession
    db.session.execute(
        sa.update(S).where(S.session_id == session_id).values(error_count=S.error_count + 1)
    )
    db.session.commit()


def _mark_sent(sent: list[tuple[int, dict]]) -> None:
    """Mark rows sent (one statement for them all) and count them on their sessions (one
    statement per number); each result names the session that sent it."""
    M, S = WhatsAppMessage, WhatsAppSession
    table = M.__table__
    values = [
        {
            "row_id": message_id,
            "sender": result["session_id"],
            "wa_id": result["wa_message_id"],
            "at": datetime.fromtimestamp(float(result["sent_at"]), UTC),
        }
        for message_id, result in sent
    ]
    db.session.execute(
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values(
            session_id=sa.bindparam("sender"),
            message_id=sa.bindparam("wa_id"),
            sent_at=sa.bindparam("at"),
            error_message=None,
            **NOT_HELD,
            updated_at=sa.func.now(),
            # A receipt may have been folded first; never move a status backwards. (The
            # literal's type: a str enum alone would be bound untyped.)
            status=sa.case(
                (table.c.status == MessageStatus.QUEUED, sa.literal(MessageStatus.SENT, sa.String)),
                else_=table.c.status,
            ),
        ),
        values,
    )
    for message_id, _ in sent:
        webhooks.message_status(message_id, MessageStatus.SENT)
    new: dict[str, list[datetime]] = {}
    for value, (_, result) in zip(values, sent, strict=True):
        if not result.get("duplicate"):
            new.setdefault(value["sender"], []).append(value["at"])
    for sender, times in sorted(new.items()):  # one order: parallel folders never deadlock
        db.session.execute(
            sa.update(S)
            .where(S.session_id == sender)
            .values(message_count=S.message_count + len(times), last_activity=max(times))
        )
    db.session.commit()


def mark_failed(message_ids: int | list[int], attempts: int, job_id: str | None = None) -> None:
    """Every attempt of job ``job_id`` failed: the still-queued rows it owns become
    ``failed``, keeping the last reason."""
    ids = message_ids if isinstance(message_ids, list) else [message_ids]
    M = WhatsAppMessage
    owned = M.job_id == job_id if job_id is not None else sa.true()
    changed = list(
        db.session.scalars(
            sa.update(M)
            .where(M.id.in_(ids), M.status == MessageStatus.QUEUED, owned)
            .values(
                status=MessageStatus.FAILED,
                retry_count=attempts,
                **NOT_HELD,
                error_message=sa.func.coalesce(M.error_message, "no session could send"),
            )
            .returning(M.id)
        )
    )
    for message_id in changed:
        webhooks.message_status(message_id, MessageStatus.FAILED)
        fallback.plan(message_id)
    db.session.commit()


def record_retry(message_ids: int | list[int], retries: int, reason: str) -> None:
    ids = message_ids if isinstance(message_ids, list) else [message_ids]
    M = WhatsAppMessage
    db.session.execute(
        sa.update(M)
        .where(M.id.in_(ids))
        .values(retry_count=retries, error_message=reason, **NOT_HELD)
    )
    db.session.commit()


__all__ = [
    "OUTCOME_UNKNOWN",
    "GiveBack",
    "NoSessionAvailable",
    "Outcome",
    "deliver",
    "deliver_batch",
    "mark_failed",
    "record_retry",
]
