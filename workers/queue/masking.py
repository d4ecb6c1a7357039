"""What Kabar shows of a job or a line of its output: ids and names, never texts or numbers.

Dramatiq prints a message as ``actor(args...)`` in its log lines (a failed webhook delivery
would print the whole body: a customer's number and words), and its dashboard shows every
argument. Both go through ``masked_arg``: numbers, booleans and short identifiers stay (message
and webhook ids, event names), anything else becomes ``[masked, N chars]``; a phone number is
never an identifier.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_DIGITS = re.compile(r"\d{8,}")
_IDENTIFIER = re.compile(r"[\w.:-]{0,64}")
_PHONE_LIKE = re.compile(r"\d{6,}")


def mask_digits(text: str) -> str:
    """Phone numbers and JIDs in ``text`` masked to their first four and last two digits."""
    return _DIGITS.sub(lambda m: m.group()[:4] + "*" * (len(m.group()) - 6) + m.group()[-2:], text)


def masked_arg(value: Any) -> Any:
    """``value`` as it may be shown: unchanged if it is an id, a list of ids or a name."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if _IDENTIFIER.fullmatch(value) and not _PHONE_LIKE.search(value):
            return value
        return f"[masked, {len(value)} chars]"
    if isinstance(value, list | tuple) and all(isinstance(v, int) for v in value):
        return value
    return f"[masked {type(value).__name__}]"


def masked_call(message: Any) -> str:
    """A Dramatiq message as ``actor(args, name=kwarg)`` with its arguments masked."""
    params = [repr(masked_arg(arg)) for arg in message.args]
    params += [f"{name}={masked_arg(value)!r}" for name, value in message.kwargs.items()]
    return f"{message.actor_name}({', '.join(params)})"


class _MaskedMessage:
    """Stands in for a message among a log record's arguments."""

    def __init__(self, message: Any) -> None:
        self.text = masked_call(message)

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _is_message(value: Any) -> bool:
    from dramatiq import Message
    from dramatiq.broker import MessageProxy

    return isinstance(value, Message | MessageProxy)


def install_log_masking() -> None:
    """Make every log record of Dramatiq's loggers show messages masked, whatever handler
    prints them (Dramatiq's loggers are created per class, after this runs, so the masking goes
    where records are made). Installing twice changes nothing."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "kabar_masking", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.name.startswith("dramatiq") and isinstance(record.args, tuple):
            if any(_is_message(arg) for arg in record.args):
                record.args = tuple(
                    _MaskedMessage(arg) if _is_message(arg) else arg for arg in record.args
                )
        return record

    factory.kabar_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
