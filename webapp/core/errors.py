"""What services refuse, as named exceptions. Blueprints map them to responses in one place.

Each carries the ``field`` at fault (dotted for nested data) where there is one, and a
``status`` that the JSON API uses.
"""

from __future__ import annotations


class KabarError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidPhoneNumber(KabarError):
    """A number Kabar will not send to; ``reason`` says why in a word (``letters``,
    ``characters``, ``changed``, ``too_short``, ...) for callers that keep it."""

    status = 422
    code = "invalid_phone_number"

    def __init__(self, message: str, *, field: str | None = None, reason: str = "invalid"):
        super().__init__(message, field=field)
        self.reason = reason


class TemplateNotFound(KabarError):
    status = 422
    code = "unknown_template"


class TemplateVariableMissing(KabarError):
    status = 422
    code = "missing_variable"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            "template needs " + ", ".join(missing) + " in data", field=f"data.{missing[0]}"
        )
        self.missing = missing


class MessageTooLong(KabarError):
    status = 422
    code = "message_too_long"


class NotFound(KabarError):
    status = 404
    code = "not_found"


class Conflict(KabarError):
    status = 409
    code = "conflict"


class SessionUnavailable(KabarError):
    """The session host cannot act on the session now (not running, not hosted, timed out)."""

    status = 409
    code = "session_unavailable"


class NoSessionAvailable(KabarError):
    """No connected session can send; the send actor retries later."""

    status = 503
    code = "no_session_available"


class TemplateInvalid(KabarError):
    """A template that cannot be saved: unknown filter, bad media URL, malformed buttons..."""

    status = 422
    code = "invalid_template"


class TemplateVariableInvalid(KabarError):
    """A variable's value that its filter cannot format (``{{amount|rupiah}}`` given "abc")."""

    status = 422
    code = "invalid_variable"


class UnknownEvent(KabarError):
    """A billing event no trigger maps."""

    status = 422
    code = "unknown_event"


class MediaInvalid(KabarError):
    """An attachment that cannot be sent: no type, not an http(s) URL, base64 that is not, a file
    that is not what its type says or is too large. ``field`` is ``media.<key>``."""

    status = 422
    code = "invalid_media"
