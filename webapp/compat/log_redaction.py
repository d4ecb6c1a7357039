"""API keys, numbers and texts in URLs never reach the logs.

Billing apps put the Kabar API key, the customer's number and the whole message in the query
string (``/send-message?api_key=...&number=...&message=...``), and both gunicorn's access log
and werkzeug's dev-server log print the request line. A filter on those loggers rewrites every
query string before any handler sees it: a key's value becomes ``[redacted]``, every other
value ``[masked]`` unless its parameter is a harmless one of the admin pages (``status``,
``page``, ...). Parameter names are percent-decoded before they are judged (``%61pi_key`` is
``api_key``), as the application decodes them. Outside a query string (gunicorn's bare ``%(q)s``
atom), key values are still redacted.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# Loggers that print request lines: werkzeug's dev server and gunicorn's access log.
REQUEST_LOGGERS = ("werkzeug", "gunicorn.access")
REDACTED = "[redacted]"
MASKED = "[masked]"
SECRET_PARAMETERS = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "password", "secret", "authorization"}
)
# Values that name no person: the filters and pagination of the admin pages.
KEPT_PARAMETERS = frozenset(
    {"status", "page", "limit", "next", "cursor", "active", "session", "template", "band",
     "tab", "lang", "day", "format", "media_type"}
)  # fmt: skip
_QUERY = re.compile(r"\?([^\s\"']+)")
_PAIR = re.compile(r"(^|[\s&?;\"'])([^\s&?=;\"']+)=([^&\s\"']*)")


def parameter_name(raw: str) -> str:
    """``raw`` as the application reads it: percent-decoded (twice-encoded too), lower case."""
    for _ in range(3):
        decoded = unquote_plus(raw)
        if decoded == raw:
            break
        raw = decoded
    return raw.strip().lower()


def _query(match: re.Match) -> str:
    pairs = []
    for pair in match.group(1).split("&"):
        name, eq, value = pair.partition("=")
        judged = parameter_name(name)
        if not eq or not value or judged in KEPT_PARAMETERS:
            pairs.append(pair)
        else:
            pairs.append(f"{name}={REDACTED if judged in SECRET_PARAMETERS else MASKED}")
    return "?" + "&".join(pairs)


def _bare_pair(match: re.Match) -> str:
    before, name, value = match.groups()
    if value and parameter_name(name) in SECRET_PARAMETERS:
        return f"{before}{name}={REDACTED}"
    return match.group(0)


def redact(text: str) -> str:
    return _PAIR.sub(_bare_pair, _QUERY.sub(_query, text))


class RedactApiKeys(logging.Filter):
    """Renders the record's message, and keeps it rendered and redacted when it held a query."""

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
