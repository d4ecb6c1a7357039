"""What a failed connection to WhatsApp means, told as the operator can act on it.

A number that will not link leaves a raw error behind: a Go/whatsmeow message from neonize
("failed to dial whatsapp web websocket: dial tcp: lookup web.whatsapp.com ...: no such host"),
or a Python exception from ``flask --app webapp doctor``. ``advise`` reads either and names the
cause (DNS, network, timeout, TLS, clock) with what to do; the sessions page and the doctor both
show these sentences, so an operator reads the same advice in both places. An error that is not
about reaching WhatsApp has no advice: it is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import LazyString, lazy_gettext


@dataclass(frozen=True)
class Advice:
    """A cause of a failed connection: ``problem`` says what is wrong, ``action`` what to do."""

    cause: str
    problem: LazyString
    action: LazyString

    def sentence(self) -> str:
        return f"{self.problem} {self.action}"


DNS = Advice(
    "dns",
    lazy_gettext("This server cannot reach WhatsApp (DNS)."),
    lazy_gettext("Check the internet connection and the DNS server (/etc/resolv.conf)."),
)
NETWORK = Advice(
    "network",
    lazy_gettext("This server cannot open a connection to WhatsApp."),
    lazy_gettext(
        "Check the internet connection, the firewall (outgoing TCP port 443) and the proxy, if any."
    ),
)
TIMEOUT = Advice(
    "timeout",
    lazy_gettext("The connection to WhatsApp timed out."),
    lazy_gettext(
        "Check the internet connection and the firewall: a slow or filtered line times out."
    ),
)
TLS = Advice(
    "tls",
    lazy_gettext("The secure (TLS) connection to WhatsApp failed."),
    lazy_gettext(
        "Check for a proxy or filter that inspects HTTPS, and the system's CA certificates "
        "(ca-certificates)."
    ),
)
CLOCK = Advice(
    "clock",
    lazy_gettext("This server's clock is wrong, so WhatsApp's certificates look invalid."),
    lazy_gettext("Set the clock right and keep it synchronised (timedatectl set-ntp true)."),
)
RUN_DOCTOR = lazy_gettext("Run `flask --app webapp doctor` on the server for the details.")

# The first pattern that matches names the cause: a clock error reads like a TLS error and a
# DNS timeout like a timeout, so the narrower causes come first. "WhatsApp refused the
# connection: ..." is WhatsApp's answer, not a network fault: it matches none.
_CAUSES = (
    (CLOCK, r"certificate expired \(current time|not yet valid|certificate has expired|clock"),
    (
        DNS,
        r"\blookup \S+|no such host|server misbehaving|name resolution|name or service not known"
        r"|nodename nor servname|no address associated|gaierror",
    ),
    (TLS, r"\btls:|x509:|\bssl\b|certificate|handshake failure"),
    (
        NETWORK,
        r"connection refused|network is unreachable|no route to host|host is down"
        r"|network is down|connection reset",
    ),
    (TIMEOUT, r"i/o timeout|timed out|deadline exceeded|timeout"),
)
_PATTERNS = tuple((advice, re.compile(pattern, re.IGNORECASE)) for advice, pattern in _CAUSES)


def advise(error: str | None) -> Advice | None:
    """The cause of a raw connection error and what to do about it; None when it names none."""
    if not error:
        return None
    for advice, pattern in _PATTERNS:
        if pattern.search(error):
            return advice
    return None
