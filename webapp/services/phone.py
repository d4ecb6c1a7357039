"""Phone numbers in, E.164 digits and WhatsApp JIDs out.

Billing systems send numbers in every local shape ("0812-3456-7890", "+62 812 3456 7890",
"6281234567890@s.whatsapp.net"); ``phonenumbers`` knows each country's rules, so "08..." becomes
"628..." only where the default region says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from webapp.services.errors import InvalidPhoneNumber

WA_USER_SERVER = "s.whatsapp.net"


@dataclass(frozen=True)
class Recipient:
    phone: str  # E.164 digits without "+", as WhatsApp uses them: 6281234567890

    @property
    def jid(self) -> str:
        return f"{self.phone}@{WA_USER_SERVER}"


def normalize(raw: str, region: str = "ID", field: str = "to") -> Recipient:
    """Parse ``raw`` as a phone number (or a user JID) dialled from ``region``."""
    text = (raw or "").strip()
    if "@" in text:
        user, _, server = text.partition("@")
        if server != WA_USER_SERVER:
            raise InvalidPhoneNumber(
                f"{raw!r} is not a personal WhatsApp address (@{WA_USER_SERVER})", field=field
            )
        text = "+" + user.split(":", 1)[0]
    elif text.startswith("00"):
        text = "+" + text[2:]
    elif text.isdigit() and region == "ID" and text.startswith("62") and len(text) > 9:
        text = "+" + text  # Indonesian billing systems often store 62... without the plus
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number: {exc}", field=field) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number", field=field)
    return Recipient(phone=f"{number.country_code}{number.national_number}")
