"""Sending in Fonnte's dialect, which many Indonesian apps are written against: ``target`` (one
or more numbers, comma-separated, each ``number|name|var1|var2...`` to fill ``{name}``,
``{var1}``, ... in the message), ``message``, ``url`` for a file, ``countryCode``, ``delay`` and
``schedule``.

Each target is an urgent single send, routed as usual. What Fonnte does and Kabar does not:
- ``delay`` (seconds between the messages of one request): each linked number already keeps
  its own interval between sends (never faster), so the delay is checked and not added;
- ``schedule`` (a unix time): single messages are sent at once in Kabar; a time in the future
  is refused rather than sent early (a bulk send with ``scheduleAt`` waits for its time).
Refusals name Fonnte's field (``target.<index>`` for one target of several).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from webapp.core import phone
from webapp.core.errors import KabarError
from webapp.intake import messages, mpwa
from webapp.models import WhatsAppMessage

MAX_TARGETS = mpwa.MAX_RECIPIENTS
# A schedule this close to now is sent now: the caller's clock and Kabar's may disagree.
SCHEDULE_SLACK_S = 60
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
_DELAY = re.compile(r"\d{1,5}(-\d{1,5})?")
_VARIABLE = re.compile(r"\{(name|var\d{1,2})\}")
_FIELDS = {"to": "target", "text": "message"}


@dataclass(frozen=True)
class Target:
    phone: str  # E.164 digits
    variables: dict[str, str]  # name, var1, var2, ... as given after the number
    field: str  # what a refusal of this target names: target, or target.<index>


@dataclass(frozen=True)
class Request:
    targets: str
    message: str = ""
    url: str = ""
    filename: str = ""
    country_code: str = "62"
    delay: str = ""
    schedule: str = ""


def targets(raw: str, country_code: str = "62") -> list[Target]:
    """The targets of ``raw``, each once; a leading 0 becomes ``country_code`` ("0": kept)."""
    if not re.fullmatch(r"\d{1,4}", country_code):
        raise KabarError(
            "the digits of a country calling code, e.g. 62 (0: numbers as written)",
            field="countryCode",
        )
    entries = [entry for entry in raw.split(",") if entry.strip()]
    if not entries:
        raise KabarError("missing; this field is required", field="target")
    if len(entries) > MAX_TARGETS:
        raise KabarError(
            f"at most {MAX_TARGETS} recipients per request; use a bulk send for more",
            field="target",
        )
    region = current_app.config["DEFAULT_REGION"]
    found: dict[str, Target] = {}
    for n, entry in enumerate(entries):
        number, *values = (part.strip() for part in entry.split("|"))
        if country_code != "0" and number.startswith("0"):
            number = f"+{country_code}{number[1:]}"
        field = "target" if len(entries) == 1 else f"target.{n}"
        digits = phone.normalize(number, region, field=field).phone
        variables = {f"var{i}" if i else "name": value for i, value in enumerate(values)}
        found.setdefault(digits, Target(digits, variables, field))
    return list(found.values())


def render(message: str, target: Target) -> str:
    """``message`` with the target's ``{name}`` and ``{varN}``; one it lacks stays as typed."""
    return _VARIABLE.sub(lambda m: target.variables.get(m.group(1), m.group(0)), message)


def media(url: str, filename: str = "") -> dict[str, Any] | None:
    """The file at ``url`` as Kabar sends it: an image by its suffix (unless named as a file),
    else a document named ``filename`` or after the URL's last segment."""
    if not url.strip():
        return None
    image = urlsplit(url.strip()).path.lower().endswith(IMAGE_SUFFIXES) and not filename.strip()
    return mpwa.attachment(url, "image" if image else "document", filename)


def check_delay(delay: str) -> None:
    if delay.strip() and not _DELAY.fullmatch(delay.strip()):
        raise KabarError("seconds, e.g. 2, or a range such as 1-10", field="delay")


def check_schedule(schedule: str, now: float | None = None) -> None:
    """Refuse a ``schedule`` in the future: Kabar sends single messages at once."""
    text = schedule.strip()
    if text in ("", "0"):
        return
    if not text.isdigit():
        raise KabarError("a unix timestamp in seconds, or 0 for now", field="schedule")
    if int(text) > (now or time.time()) + SCHEDULE_SLACK_S:
        raise KabarError(
            "Kabar sends single messages at once and does not schedule them; send at the "
            "time, or use a bulk send with scheduleAt",
            field="schedule",
        )


def queue(request: Request) -> list[WhatsAppMessage]:
    """Queue one message per target; everything is checked before the first row is written,
    so a refused request leaves no message behind."""
    try:
        found = targets(request.targets, request.country_code.strip() or "62")
        check_delay(request.delay)
        check_schedule(request.schedule)
        attachment = media(request.url, request.filename)
        if attachment is None and not request.message.strip():
            raise KabarError("missing; give a message, a url, or both", field="message")
        texts = [render(request.message, target) for target in found]
        for target, text in zip(found, texts, strict=True):
            if attachment is None and not text.strip():
                raise KabarError(
                    "the message is empty once this target's variables are filled in",
                    field=target.field,
                )
            mpwa.check_length(text, "message")
        extra: Mapping[str, Any] = {} if attachment is None else {"media": attachment}
        return [
            messages.queue_message(f"+{target.phone}", text=text, **extra).message
            for target, text in zip(found, texts, strict=True)
        ]
    except KabarError as exc:
        exc.field = _FIELDS.get(exc.field, exc.field)
        raise
