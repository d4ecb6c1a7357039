"""E-mail addresses Kabar mails to or from: exactly one address, nothing that ends a header.

Read with the standard library's header parser, the one ``EmailMessage`` and ``smtplib`` apply
to the same header when the mail goes out: so what is accepted here is exactly what is mailed
("a@x, b@y" is two addresses to that parser, and is refused, where an "@" check let both be
mailed). The address itself is checked by marshmallow's ``Email`` validator, already the API's;
nothing is looked up in DNS (email-validator would add a dependency for checks a fallback
address does not need: whether the domain takes mail shows when the mail is sent).
"""

from __future__ import annotations

import re
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address

from marshmallow import ValidationError, validate

from webapp.core.errors import KabarError

# C0 controls (CR and LF among them), DEL and the C1 controls: none belongs in a header.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_EMAIL = validate.Email()


def refuse_control_characters(value: str) -> None:
    """Raise ValueError when ``value`` holds a line break or another control character."""
    if CONTROL.search(value):
        raise ValueError("must be one line without control characters")


def one_address(value: str) -> str:
    """The bare address (``noreply@isp.example``) of ``value``, which must be exactly one
    e-mail address, bare or with a name (``Kabar ISP <noreply@isp.example>``); ValueError
    with the reason otherwise."""
    if not isinstance(value, str):
        raise ValueError("must be an e-mail address, such as noreply@isp.example")
    refuse_control_characters(value)
    try:
        header = policy.default.header_factory("To", value)
        addresses = header.addresses
    except (HeaderParseError, IndexError, ValueError):
        addresses = ()
    if len(addresses) > 1:
        raise ValueError("must be one e-mail address, not a list")
    if len(addresses) != 1 or header.defects or not addresses[0].addr_spec:
        raise ValueError("must be an e-mail address, such as noreply@isp.example")
    bare = addresses[0].addr_spec
    try:
        _EMAIL(bare)
    except ValidationError:
        raise ValueError("must be an e-mail address, such as noreply@isp.example") from None
    return bare


def mailable(value: str) -> str:
    """``value`` (one address, with or without a name) with its domain as DNS spells it
    (IDNA: ``bücher.example`` is ``xn--bcher-kva.example``), so any SMTP server takes it; a
    non-ASCII domain needs SMTPUTF8, which many servers do not offer. A value that is not one
    address, or a domain IDNA cannot spell, is returned as it is."""
    try:
        (address,) = policy.default.header_factory("To", value).addresses
        domain = address.domain.encode("idna").decode("ascii")
    except (HeaderParseError, IndexError, ValueError):  # UnicodeError is a ValueError
        return value
    if domain == address.domain:
        return value
    return str(Address(address.display_name, address.username, domain))


def recipient_address(value: object, field: str) -> str | None:
    """A recipient's fallback address as given by an API or event (``None`` or blank: none),
    bare and at most 255 characters; ``KabarError`` naming ``field`` when it is not one
    address."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        bare = one_address(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise KabarError(f"{field} {exc}", field=field) from None
    if len(bare) > 255:
        raise KabarError(f"{field} must be at most 255 characters", field=field)
    return bare
