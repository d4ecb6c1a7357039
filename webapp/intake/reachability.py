"""Which numbers are on WhatsApp, asked of a linked number before a bulk send.

Sending to numbers without WhatsApp wastes a number's daily allowance and looks like spam to
WhatsApp, so bulk recipients are checked first. Answers are kept in Redis for the setting
``on_whatsapp_cache_days``: a number checked once costs no request for that long.

Checking must never block a bulk send: when no connected session can check (none connected,
its host does not answer, the transport cannot ask), the numbers stay unknown and are sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NamedTuple

from webapp import settings
from webapp.core.errors import KabarError
from webapp.redis_client import get_redis
from workers.pipeline import routing, sessions
from workers.queue import keys
from workers.queue.contracts import RpcMethod

log = logging.getLogger(__name__)

# Numbers per request to the session host (and per WhatsApp query).
CHUNK = 50


class Reachability(NamedTuple):
    on: set[str]
    off: set[str]
    unknown: set[str]


def check(phones: Iterable[str], session_ids: list[str] | None = None) -> Reachability:
    """Sort ``phones`` (E.164 digits) into on WhatsApp, not on WhatsApp and unknown; what is
    not kept is asked of ``session_ids`` (by default every connected session)."""
    asked = list(dict.fromkeys(phones))
    found = cached(asked)
    answers = _ask([phone for phone in asked if phone in found.unknown], session_ids)
    _remember(answers)
    for phone, on in answers.items():
        found.unknown.discard(phone)
        (found.on if on else found.off).add(phone)
    return found


def cached(phones: Iterable[str]) -> Reachability:
    """Sort ``phones`` by the answers kept in Redis alone: what none was kept for is unknown.

    One Redis read: no session is asked and the database is not touched, so it is safe while
    a row is locked (``check`` may wait for session hosts and ends the database transaction).
    """
    asked = list(dict.fromkeys(phones))
    found = Reachability(set(), set(), set())
    if not asked:
        return found
    values = get_redis().mget([keys.on_whatsapp(phone) for phone in asked])
    for phone, value in zip(asked, values, strict=True):
        if value is None:
            found.unknown.add(phone)
        else:
            (found.on if value == b"1" else found.off).add(phone)
    return found


def _ask(phones: list[str], session_ids: list[str] | None) -> dict[str, bool]:
    """Ask the sessions, CHUNK numbers per call; a session that cannot answer is not asked
    again in this call, and what none could answer is left out."""
    if not phones:
        return {}  # all answered from the cache: not even the sessions are read
    if session_ids is None:
        askable = [session.session_id for session in routing.connected_sessions()]
    else:
        askable = list(session_ids)
    answers: dict[str, bool] = {}
    for start in range(0, len(phones), CHUNK):
        chunk = phones[start : start + CHUNK]
        while askable:
            try:
                result = sessions.host_call(askable[0], RpcMethod.CHECK_NUMBERS, phones=chunk)
            except KabarError as exc:
                log.warning("session %s cannot check numbers: %s", askable[0], exc.message)
                askable.pop(0)
                continue
            answers.update({phone: bool(result[phone]) for phone in chunk if phone in result})
            break
    if len(answers) < len(phones):
        log.info(
            "%d of %d numbers could not be checked on WhatsApp; they are sent unchecked",
            len(phones) - len(answers),
            len(phones),
        )
    return answers


def _remember(answers: dict[str, bool]) -> None:
    if not answers:
        return
    ttl = int(settings.get("on_whatsapp_cache_days")) * 86_400
    pipe = get_redis().pipeline()
    for phone, on in answers.items():
        pipe.set(keys.on_whatsapp(phone), "1" if on else "0", ex=ttl)
    pipe.execute()
