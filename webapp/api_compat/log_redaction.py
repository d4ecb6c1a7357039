"""API keys in URLs never reach the logs.

Billing apps put the Kabar API key in the query string (``/send-message?api_key=...``), and both
gunicorn's access log and werkzeug's dev-server log print the request line. A filter on those
loggers replaces every ``api_key=`` value with ``[redacted]`` before any handler sees it.
"""

from __future__ import annotations

import logging
import re

# Loggers that print request lines: werkzeug's dev server and gunicorn's access log.
REQUEST_LOGGERS = ("werkzeug", "gunicorn.access")
REDACTED = "[redacted]"
_API_KEY = re.compile(r"(?i)(\bapi(?:_|%5f)key=)[^&\s\"']*")


def redact(text: str) -> str:
    return _API_KEY.sub(rf"\g<1>{REDACTED}", text)


class RedactApiKeys(logging.Filter):
    """Renders the record's message, and keeps it rendered and redacted when it held a key."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is the handler's to report, not ours
            return True
        redacted = redact(text)
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


def install() -> None:
    """Put the filter on the request loggers, once however many apps are created."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactApiKeys) for f in logger.filters):
            logger.addFilter(RedactApiKeys())
