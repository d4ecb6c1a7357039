"""Phone numbers in, E.164 digits and WhatsApp JIDs out.

Billing systems send numbers in every local shape ("0812-3456-7890", "+62 812 3456 7890",
"6281234567890@s.whatsapp.net"); ``phonenumbers`` knows each country's rules, so "08..." becomes
"628..." only where the default region says so.

A message goes only to the number that was typed, give or take punctuation (spaces, dashes, dots,
parentheses, a leading +), the country code and the trunk prefix (0812... -> 62812...).
``phonenumbers`` alone is kinder than that, and a kindness here reaches a stranger: it reads
keypad letters as digits ("0812-ABCD-7890" -> 6281222237890), drops what trails the number (a
letter O typed for a zero, an "X", an extension) and converts the digits of other scripts. Such
numbers are refused with a reason (``InvalidPhoneNumber.reason``) instead.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import phonenumbers
from flask_babel import lazy_gettext
from phonenumbers import NumberParseException, ValidationResult

from webapp.core.errors import InvalidPhoneNumber

WA_USER_SERVER = "s.whatsapp.net"
DIGITS = frozenset("0123456789")
# Besides digits, whitespace and dashes of any kind (spreadsheets write non-breaking spaces and
# en dashes) and a leading "+", these may stand in a number.
PUNCTUATION = frozenset(".()/")

REASONS = {
    "letters": lazy_gettext("the number contains letters"),
    "characters": lazy_gettext(
        "the number may hold only the digits 0-9, spaces, dashes, dots, parentheses and a leading +"
    ),
    "changed": lazy_gettext(
        "the number would not be sent to exactly as typed (digits dropped or added); "
        "check its digits"
    ),
    "not_a_number": lazy_gettext("this is not a phone number"),
    "too_short": lazy_gettext("the number is too short"),
    "too_long": lazy_gettext("the number is too long"),
    "country": lazy_gettext("the country code is unknown"),
    "invalid": lazy_gettext("this is not a valid phone number"),
    "not_personal": lazy_gettext(
        "this is not a personal WhatsApp address (…@s.whatsapp.net); groups are not sent to"
    ),
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "country",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
_LENGTH_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "country",
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.TOO_LONG: "too_long",
}


@dataclass(frozen=True)
class Recipient:
    phone: str  # E.164 digits without "+", as WhatsApp uses them: 6281234567890

    @property
    def jid(self) -> str:
        return f"{self.phone}@{WA_USER_SERVER}"


def normalize(raw: str | int | float, region: str = "ID", field: str = "to") -> Recipient:
    """Parse ``raw`` as a phone number (or a user JID) dialled from ``region``.

    A whole number given as a float (6281234567890.0, as JSON and spreadsheets may hold it) is
    read as its digits. Raises InvalidPhoneNumber, with ``field`` and a ``reason`` from
    ``REASONS``.
    """
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = ("" if raw is None or isinstance(raw, bool) else str(raw)).strip()
    if "@" in text:
        user, _, server = text.partition("@")
        if server != WA_USER_SERVER:
            raise refusal("not_personal", field)
        text = "+" + user.split(":", 1)[0]
    _check_characters(text, field)
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.isdigit() and region == "ID" and text.startswith("62") and len(text) > 9:
        text = "+" + text  # Indonesian billing systems often store 62... without the plus
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise refusal(_PARSE_REASONS.get(exc.error_type, "not_a_number"), field) from exc
    if not phonenumbers.is_valid_number(number):
        reason = _LENGTH_REASONS.get(phonenumbers.is_possible_number_with_reason(number))
        raise refusal(reason or "invalid", field)
    country, national = str(number.country_code), phonenumbers.national_significant_number(number)
    if "".join(ch for ch in text if ch in DIGITS) not in _as_typed(country, national):
        raise refusal("changed", field)
    return Recipient(phone=country + national)


def refusal(reason: str, field: str) -> InvalidPhoneNumber:
    """The refusal for ``reason``, in the language of the request (or the configured one)."""
    return InvalidPhoneNumber(str(REASONS[reason]), field=field, reason=reason)


def _check_characters(text: str, field: str) -> None:
    """Refuse letters, and anything else that is neither a digit nor punctuation."""
    if any(ch.isalpha() for ch in text):
        raise refusal("letters", field)
    for position, ch in enumerate(text):
        if ch in DIGITS or ch in PUNCTUATION or ch.isspace() or (ch == "+" and position == 0):
            continue
        if unicodedata.category(ch) != "Pd":  # a dash of any kind
            raise refusal("characters", field)


def _as_typed(country: str, national: str) -> set[str]:
    """The digit strings that dial this number: the national number with or without the trunk
    prefix, with or without the country code (its "00" already read as "+")."""
    region = phonenumbers.region_code_for_country_code(int(country))
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    trunk = (metadata.national_prefix if metadata else None) or ""
    return {national, trunk + national, country + national, country + trunk + national}
