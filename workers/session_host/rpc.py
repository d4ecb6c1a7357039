"""Calls into the session host over Redis, with time-outs.

A call names a session. Requests wait in that session's list (``kabar:rpc:session:<id>``), which
only the session host holding the session's lease reads, so a call always reaches the one live
client of that number, and a host that takes a session over also takes its pending calls. Each
request carries a deadline; a host drops requests whose caller has given up, so a late call
never acts after its caller reported a time-out.

Redis is not trusted to say who asked: requests and replies are signed (``workers.queue.signing``)
over their whole body, which names the session, a one-time id and the deadline. A host acts only
on a request whose signature holds, that names the queue's own session, whose deadline has not
passed (nor lies further ahead than any caller waits) and whose id it has not seen before; it
drops anything else with a warning that shows none of the request.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

import webapp.config as config
from workers.queue import keys, signing
from workers.queue.contracts import RpcCode

log = logging.getLogger(__name__)

# How often a caller waiting for an answer checks that its session host is alive.
HOST_CHECK_S = 1.0
# How much longer than its deadline a served request is remembered: room for a host whose clock
# lags the one that served it.
SEEN_MARGIN_MS = 60_000


class RpcError(Exception):
    """The session host answered with an error. ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SessionNotHosted(RpcError):
    """No session host holds the session: it is not running, or the session is unknown."""

    def __init__(self, session_id: str) -> None:
        super().__init__(RpcCode.NOT_HOSTED, f"no session host is running session {session_id}")


class HostGone(RpcError):
    """The session host holding the session stopped (its heartbeat lapsed) while the call was
    under way. Like a time-out, the call may or may not have taken effect."""

    def __init__(self, session_id: str, method: str) -> None:
        super().__init__(
            RpcCode.HOST_GONE, f"the session host running {session_id} stopped during {method}"
        )


class ChannelKeyMismatch(RpcError):
    """The session host signs with another key than the caller: their secrets differ. Nothing
    was done, and nothing will be until every process has the same secret."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            RpcCode.CHANNEL_KEY_MISMATCH,
            f"the session host running {session_id} refused the call: it was " + signing.OTHER_KEY,
        )


# What a host answers, unsigned, to a request signed with another key. Unsigned because the
# caller could not check the host's signature anyway; forging one only fails a call at once,
# which anyone who can write to Redis can do by deleting the request.
OTHER_KEY_NOTICE = "other_key"


def _other_key_notice(raw: bytes | str) -> bool:
    try:
        return json.loads(raw).get(OTHER_KEY_NOTICE) is True
    except (ValueError, AttributeError):
        return False


class RpcTimeout(RpcError):
    """The session host did not answer in time. The call may or may not have taken effect."""

    def __init__(self, session_id: str, method: str, timeout: float) -> None:
        super().__init__(
            RpcCode.TIMEOUT,
            f"session host did not answer {method} for {session_id} in {timeout:g} s",
        )


class SessionHostClient:
    """Caller side: ``call(session_id, method, **params)`` returns the result or raises."""

    def __init__(
        self,
        client: redis.Redis,
        timeout: float = config.RPC_TIMEOUT_S,
        key: bytes | None = None,
    ) -> None:
        self.redis = client
        self.timeout = timeout
        self.key = key  # None: the key of this process's environment

    def call(
        self, session_id: str, method: str, timeout: float | None = None, **params: Any
    ) -> Any:
        timeout = self.timeout if timeout is None else timeout
        holder = self.redis.get(keys.lease(session_id))
        # A lease whose holder has no heartbeat belongs to a dead host: do not wait for it.
        if holder is None or not self.redis.exists(keys.host(holder.decode())):
            raise SessionNotHosted(session_id)
        request_id = uuid.uuid4().hex
        reply_key = keys.rpc_reply(request_id)
        request = {
            "id": request_id,
            "session": session_id,
            "method": method,
            "params": params,
            "reply_to": reply_key,
            "at": time.time(),
            "deadline": time.time() + timeout,
        }
        sealed = signing.seal(signing.RPC_REQUEST, request, self.key)
        self.redis.rpush(keys.rpc_requests(session_id), sealed)
        reply = self._wait(request_id, holder.decode(), session_id, method, timeout)
        if "error" in reply:
            raise RpcError(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]

    def _wait(self, request_id: str, holder: str, session_id: str, method: str, timeout: float):
        """The signed reply to ``request_id``, looking every second whether the host that should
        answer is still alive (or another host took the session over, with its pending calls).
        A reply that is not signed for this request is dropped: the wait goes on."""
        reply_key = keys.rpc_reply(request_id)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            answer = self.redis.blpop([reply_key], timeout=min(left, HOST_CHECK_S))
            if answer is not None:
                if _other_key_notice(answer[1]):
                    raise ChannelKeyMismatch(session_id)
                try:
                    reply = signing.unseal(signing.RPC_REPLY, answer[1], self.key)
                except signing.OtherKey:
                    raise ChannelKeyMismatch(session_id) from None
                except signing.BadSignature as exc:
                    log.warning("dropped a reply to %s for %s: %s", method, session_id, exc)
                    continue
                if reply.get("id") == request_id:
                    return reply
                log.warning(
                    "dropped a reply to %s for %s: it answers another call", method, session_id
                )
                continue
            if not self.redis.exists(keys.host(holder)):
                current = self.redis.get(keys.lease(session_id))
                if current is None or current.decode() == holder:
                    raise HostGone(session_id, method)
                holder = current.decode()  # taken over: the new host serves the request
        raise RpcTimeout(session_id, method, timeout)


Handler = Callable[[str, str, dict[str, Any]], Any]


class RpcServer:
    """Host side: serve requests for the sessions ``sessions()`` returns with ``handler``.

    ``handler(session_id, method, params)`` returns a JSON-able result or raises; an exception
    with a ``code`` attribute is answered with that code, anything else as ``internal``.
    """

    def __init__(
        self,
        client: redis.Redis,
        handler: Handler,
        sessions: Callable[[], Iterable[str]],
        threads: int = 8,
        poll_s: float = 1.0,
    ) -> None:
        self.redis = client
        self.handler = handler
        self.sessions = sessions
        self.poll_s = poll_s
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rpc")

    def serve_once(self) -> bool:
        """Wait up to ``poll_s`` for one request and dispatch it; return whether one came."""
        queues = {keys.rpc_requests(sid): sid for sid in self.sessions()}
        if not queues:
            return False
        popped = self.redis.blpop(list(queues), timeout=self.poll_s)
        if popped is None:
            return False
        queue, raw = popped
        session_id = queues[queue.decode() if isinstance(queue, bytes) else queue]
        self.pool.submit(self._dispatch, session_id, raw)
        return True

    def _dispatch(self, session_id: str, raw: bytes) -> None:
        try:
            request = signing.unseal(signing.RPC_REQUEST, raw)
            reply_to, deadline = request["reply_to"], float(request["deadline"])
            if request["session"] != session_id or reply_to != keys.rpc_reply(request["id"]):
                raise signing.BadSignature("signed for another session or reply")
        except signing.OtherKey as exc:
            log.error("refused an RPC request for %s: %s", session_id, exc)
            self._tell_other_key(raw)
            return
        except signing.BadSignature as exc:
            log.warning(
                "dropped an RPC request for %s that Kabar did not sign: %s", session_id, exc
            )
            return
        except (ValueError, KeyError, TypeError):
            log.warning("dropped a malformed RPC request for %s", session_id)
            return
        now = time.time()
        if deadline < now:
            log.info("dropped expired %s call for %s", request.get("method"), session_id)
            return
        if deadline > now + config.RPC_MAX_TIMEOUT_S:
            log.warning("dropped an RPC request for %s with a deadline too far ahead", session_id)
            return
        # One-time ids: a request copied back onto the queue is not served twice. The record
        # lasts until the deadline by this host's clock (the one the check above uses, not
        # Redis'), plus a minute for another host whose clock lags this one's.
        seen_ms = int((deadline - now) * 1000) + SEEN_MARGIN_MS
        if not self.redis.set(keys.rpc_seen(request["id"]), 1, nx=True, px=seen_ms):
            log.warning("dropped a replayed RPC request for %s", session_id)
            return
        try:
            reply = {"result": self.handler(session_id, request["method"], request["params"])}
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller
            code = getattr(exc, "code", RpcCode.INTERNAL)
            if code == RpcCode.INTERNAL:
                log.exception("RPC %s for %s failed", request["method"], session_id)
            reply = {"error": {"code": code, "message": str(exc)}}
        reply["id"] = request["id"]
        pipe = self.redis.pipeline()
        pipe.rpush(reply_to, signing.seal(signing.RPC_REPLY, reply))
        pipe.expire(reply_to, 60)
        pipe.execute()

    def _tell_other_key(self, raw: bytes) -> None:
        """Answer a request signed with another key at once, so its caller reports the
        mismatch instead of a time-out (only to a reply key Kabar's callers use)."""
        try:
            request = json.loads(json.loads(raw)["body"])
            reply_to = request["reply_to"]
            if reply_to != keys.rpc_reply(request["id"]):
                return
        except (ValueError, KeyError, TypeError):
            return
        pipe = self.redis.pipeline()
        pipe.rpush(reply_to, json.dumps({OTHER_KEY_NOTICE: True}))
        pipe.expire(reply_to, 60)
        pipe.execute()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)
