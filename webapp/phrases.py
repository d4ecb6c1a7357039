"""What services and workers write in English, shown in the operator's language.

Services raise, and workers store, English sentences: the API's ``message``, a failed message's
``error_message``, a session's ``last_error`` and a bulk send's row errors keep one stable
wording whatever language the operator reads, and old rows stay readable. This catalogue holds
the shape of each sentence, as a gettext message id whose ``%(name)s`` parts stand for what
varies; ``say`` finds the shape a text has and gives it in the current language.

- ``%(reason)s`` is itself a sentence of this catalogue, translated in turn (one it does not
  know is "an error reported by WhatsApp", kept whole as detail);
- ``%(why)s`` is too, and the shape only fits when the catalogue knows it;
- ``%(detail)s`` is technical detail (a Go error, an SMTP answer): it is not translated and is
  left out of the sentence; ``explain`` hands it back apart, for a "detail" toggle;
- any other part is a value (a session id, a number) and is kept as written (``%(variable)s``
  and ``%(smtp_code)s`` only match a name and a three-digit code).

A text that has no shape here is shown as written by ``say``; ``explain`` calls it an error
reported by WhatsApp and keeps it whole as the detail. tests/admin/test_phrases.py fails when a
message raised in the services (webapp/intake, webapp/core, workers/pipeline) or the transports
has no shape here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from flask_babel import gettext


def N_(text: str) -> str:
    """Marks a message id for the catalogue (pybabel extracts it) without translating it."""
    return text


# (shape, sentence) where the sentence shown differs from the shape (it leaves the detail out);
# a plain string is both.
PHRASES: tuple[str | tuple[str, str], ...] = (
    # why a message failed or waits (workers.pipeline.sending, routing, optout, bulk)
    N_("no connected session could send: %(reason)s"),
    N_("no session could send"),
    N_("waiting for a number that can send: %(reason)s"),
    N_("no number is connected"),
    N_("%(session)s is not connected"),
    N_("%(session)s rests after send errors"),
    N_("%(session)s reached today's limit of %(cap)s"),
    N_("%(session)s cannot be reached now"),
    N_(
        "a session host was sending this message and stopped answering: it may have reached the "
        "customer. Resend only if they did not get it"
    ),
    N_(
        "WhatsApp did not confirm this message after it was sent: it may have reached the "
        "customer. Resend only if they did not get it"
    ),
    N_(
        "the WhatsApp client of the number sending this message crashed while sending it: it may "
        "have reached the customer. Resend only if they did not get it"
    ),
    N_(
        "Redis lost the record of this message's send (it restarted or its data was lost) after "
        "it was handed to WhatsApp: it may have reached the customer. Resend only if they did "
        "not get it"
    ),
    N_("recipient opted out"),
    N_("bulk send cancelled"),
    N_("lost; queued again"),
    ("the recipient is not on WhatsApp (%(detail)s)", N_("the recipient is not on WhatsApp")),
    (
        "WhatsApp did not confirm the send, it may have gone out (%(detail)s)",
        N_("WhatsApp did not confirm the send, it may have gone out"),
    ),
    (
        "WhatsApp limits first messages to new contacts from this number (%(detail)s)",
        N_("WhatsApp limits first messages to new contacts from this number; tried again later"),
    ),
    (
        "the recipient is not on WhatsApp (no LID found for %(number)s from server, simulated)",
        N_("the recipient is not on WhatsApp"),
    ),
    (
        "WhatsApp refused a first message to this new contact (%(detail)s)",
        N_("WhatsApp refused a first message to this new contact"),
    ),
    (
        "%(what)s failed on the simulated network (%(detail)s)",
        N_("the send failed on the simulated network"),
    ),
    ("%(what)s failed: %(detail)s", N_("WhatsApp refused the send")),
    N_("simulator session %(session)s is not connected"),
    N_("simulator session %(session)s is not linked"),
    N_("simulator session %(session)s is not showing a QR"),
    N_("neonize session %(session)s is not connected"),
    N_("neonize session %(session)s is not started"),
    N_("neonize reports the connection to WhatsApp closed"),
    N_("neonize reports the device is no longer logged in"),
    N_("WhatsApp returned no message id"),
    N_("not a WhatsApp address: %(address)s"),
    # the session host's answers (workers.session_host.rpc, workers.pipeline.sessions)
    N_("no session host is running session %(session)s"),
    N_("the session host running %(session)s stopped during %(method)s"),
    N_("session host did not answer %(method)s for %(session)s in %(seconds)s s"),
    N_("session %(session)s is not held here"),
    N_("session %(session)s is not held by any session host"),
    # why a number is not connected (session events: last_error)
    N_("logged out from Kabar"),
    N_("logged out from the phone"),
    N_("logged out from the phone (simulated)"),
    N_("logged out by WhatsApp"),
    N_("logged out"),
    N_("the phone's WhatsApp account is gone"),
    ("logged out from the phone (%(detail)s)", N_("logged out from the phone")),
    N_("temporarily banned by WhatsApp"),
    N_("temporarily banned by WhatsApp (simulated)"),
    ("temporarily banned by WhatsApp%(detail)s", N_("temporarily banned by WhatsApp")),
    N_("replaced by another client"),
    N_("WhatsApp rejected this client version (neonize)"),
    ("linking failed (%(detail)s); show a new QR", N_("linking failed; show a new QR")),
    N_("connection closed by WhatsApp; reconnecting"),
    N_("connection closed"),
    N_("connection lost (simulated)"),
    N_("simulated network outage"),
    N_("host stopped"),
    N_("internal error in neonize transport"),
    ("stream error %(detail)s from WhatsApp", N_("stream error from WhatsApp")),
    N_("%(count)s keep-alives missed in a row"),
    (
        "WhatsApp refused the connection: %(detail)s",
        N_("WhatsApp refused the connection; Kabar tries again"),
    ),
    (
        "the WhatsApp client of this number crashed: %(detail)s",
        N_("the WhatsApp client of this number crashed; Kabar starts it again"),
    ),
    (
        "health check failed (%(count)s in a row): %(detail)s",
        N_("health check failed (%(count)s in a row)"),
    ),
    N_("health check slow: %(seconds)s s (limit %(limit)s s)"),
    N_("idle: no traffic for %(hours)s h"),
    N_("the login of session %(session)s expired; show a new QR first"),
    N_("WhatsApp did not reconnect within %(seconds)s s"),
    N_("session %(session)s is not started"),
    N_("the WhatsApp client of session %(session)s is restarting"),
    (
        "the WhatsApp client of this number could not start: %(detail)s",
        N_("the WhatsApp client of this number could not start"),
    ),
    N_("the WhatsApp client of this number did not answer %(method)s in %(seconds)s s"),
    N_("unknown client method %(method)s"),
    N_("unknown method %(method)s"),
    N_("the template was deleted"),
    N_(
        "this WhatsApp account asks for a passkey, which linking from Kabar cannot answer yet; "
        "try the pairing code or another number"
    ),
    N_("the QR code was not scanned in time; show a new QR"),
    N_("the pairing code was not typed in time; show a new QR"),
    N_("the stored credentials are not a neonize store"),
    ("the store snapshot helper failed: %(detail)s", N_("the store snapshot helper failed")),
    ("could not copy the store: %(detail)s", N_("could not copy the store")),
    ("pairing code request failed: %(detail)s", N_("pairing code request failed")),
    N_("WhatsApp returned no pairing code"),
    N_("session %(session)s is already linked"),
    N_("session %(session)s is not waiting for pairing; start it first"),
    N_("session %(session)s is not waiting for pairing yet; ask again once it shows a QR code"),
    N_("%(transport)s cannot be health-checked"),
    N_("%(transport)s does not support pairing codes"),
    N_("%(transport)s cannot check numbers on WhatsApp"),
    N_("%(transport)s sessions cannot be driven by the simulator"),
    N_("unknown transport %(name)s; expected one of %(choices)s"),
    N_("unknown simulator action %(action)s"),
    N_("fault must be one of %(choices)s, not %(fault)s"),
    N_("%(name)s is required for this fault"),
    N_("%(name)s must be a number"),
    N_("%(name)s must be between %(low)s and %(high)s"),
    N_("from_phone is required"),
    N_("phones is a non-empty list of numbers"),
    N_("phones holds something that is not a number"),
    N_("media_type must be one of %(choices)s"),
    N_("not a phone number: %(value)s"),
    # what services refuse (webapp.intake, webapp.core, workers.pipeline)
    N_("no session %(session)s"),
    N_("transport must be one of %(choices)s"),
    N_("a session for device %(device)s exists already"),
    N_("%(name)s cannot be changed here"),
    N_("session %(session)s uses the %(transport)s transport, not the simulator"),
    N_("session %(session)s is linked already"),
    N_("WhatsApp answered an unexpected pairing code %(code)s"),
    N_("session %(session)s is connected already"),
    N_("session %(session)s has no QR code yet (status %(status)s); retry in a moment"),
    N_("give either template (with data) or text"),
    N_("the message is empty"),
    N_("the message has %(length)s characters; WhatsApp allows %(limit)s"),
    N_("no message with id %(id)s"),
    N_("message %(id)s is %(status)s, not failed"),
    N_("message %(id)s is %(status)s, not queued"),
    N_("message %(id)s is still being sent by a live session host; try again shortly"),
    N_("%(value)s is not a valid phone number"),
    N_("%(value)s is not a personal WhatsApp address (@%(server)s)"),
    ("%(value)s is not a phone number: %(detail)s", N_("%(value)s is not a phone number")),
    # why a number is refused (webapp.core.phone.REASONS)
    N_("the number contains letters"),
    N_(
        "the number may hold only the digits 0-9, spaces, dashes, dots, parentheses and a leading +"
    ),
    N_(
        "the number would not be sent to exactly as typed (digits dropped or added); "
        "check its digits"
    ),
    N_("this is not a phone number"),
    N_("the number is too short"),
    N_("the number is too long"),
    N_("the country code is unknown"),
    N_("this is not a valid phone number"),
    N_("this is not a personal WhatsApp address (…@s.whatsapp.net); groups are not sent to"),
    N_("%(email)s is not an e-mail address"),
    N_("the password needs at least %(count)s characters"),
    N_("the current password is wrong"),
    N_("an admin %(email)s exists already"),
    N_("no API key %(id)s"),
    N_("API key %(name)s is revoked already"),
    N_("recipients is a non-empty list of {whatsapp, data, email?}"),
    N_("at most %(limit)s recipients per bulk send; split this one"),
    N_("each recipient is an object {whatsapp, data, email?}"),
    N_("template (a template name) is required"),
    N_("templateData is an object of variables"),
    N_("priority is a whole number from 1 (highest) to 10"),
    N_("routing is one of %(choices)s"),
    N_("scheduleAt is an ISO 8601 time, e.g. 2026-12-01T08:00:00+07:00"),
    N_("no bulk send %(id)s"),
    N_("bulk send %(id)s is %(status)s; only an active one can pause"),
    N_("bulk send %(id)s is %(status)s, not paused"),
    N_("bulk send %(id)s is %(status)s already"),
    N_("a recipient is an object {whatsapp, data, email?}"),
    N_("whatsapp (the recipient's number) is required"),
    N_("%(number)s is already in this bulk send; sent once"),
    N_("data is an object of variables"),
    N_("must be an e-mail address, such as ops@isp.example"),
    N_("must be an e-mail address, such as noreply@isp.example"),
    N_("must be one e-mail address, not a list"),
    N_("must be one line without control characters"),
    N_("must not contain a NUL character"),
    N_(
        "a value of this request cannot be stored: a NUL character, a number out of range or "
        "text the database cannot encode"
    ),
    N_("SMTP %(smtp_code)s"),
    ("SMTP %(smtp_code)s %(detail)s", N_("SMTP %(smtp_code)s")),
    ("recipient refused (%(detail)s)", N_("the SMTP server refused the recipient")),
    (
        "no linked WhatsApp number %(number)s in Kabar; link it on the sessions page, or send "
        "sender=%(wildcard)s to let Kabar choose"
    ),
    N_("one recipient per request; Kabar does not split '|' lists"),
    N_("quiet hours must look like 21:00-07:00, not %(value)s"),
    ("quiet hours %(value)s: %(detail)s", N_("quiet hours %(value)s are not a time")),
    N_("must be at least %(value)s"),
    N_("must be at most %(value)s"),
    N_("must be a single value"),
    N_("must be true or false"),
    N_("must be a number"),
    N_("must be one of %(choices)s"),
    N_("must be at most 255 characters"),
    N_("unknown setting"),
    N_("%(value)s is not a whole number"),
    N_("%(value)s is not one of %(choices)s"),
    N_("must be a host name or address, such as smtp.example.com"),
    N_("%(reason)s; %(label)s has an empty label between its dots"),
    N_("%(reason)s; %(label)s is not 1 to 63 letters, digits or hyphens"),
    N_("is true/false, not an amount"),
    N_("%(value)s is not an amount"),
    N_("is true/false, not a date"),
    N_("%(value)s is not a date (use YYYY-MM-DD or ISO 8601)"),
    N_("type must be one of %(choices)s"),
    N_("%(name)s must be text"),
    N_("%(name)s is required"),
    N_("content is required"),
    N_("content has %(length)s characters; WhatsApp allows %(limit)s"),
    N_("no active template named %(name)s"),
    N_("no template with id %(id)s"),
    N_("no active template with id %(id)s"),
    N_("no template named %(name)s"),
    N_("unknown field %(name)s"),
    N_("name is 1-100 letters, digits, '_', '.' or '-' (e.g. new_invoice)"),
    N_("category must be one of %(choices)s"),
    N_("language is a code such as id or en"),
    N_(
        "template %(name)s is used by the trigger(s) %(triggers)s; point them to another "
        "template first"
    ),
    N_("template %(name)s is used by bulk send %(job)s, which has not finished"),
    N_("mediaUrl must be an http(s) URL of the image"),
    N_("a button template needs 1 to %(count)s buttons"),
    N_("a list template needs at least one section"),
    N_("a list holds at most %(limit)s rows in all; this one has %(count)s"),
    N_("a template named %(name)s exists already"),
    N_("a section is {title, rows}"),
    N_("a section needs rows"),
    N_("a row is {title, description?}"),
    N_("unknown filter %(filter)s in %(placeholder)s; filters are %(choices)s"),
    N_("template needs %(names)s in data"),
    N_("%(variable)s %(why)s"),
    # template warnings
    N_("%(char)s is repeated %(count)s times in a row; WhatsApp may take the message for spam"),
    N_("contains a link (%(link)s); messages with links are more often reported as spam"),
    N_(
        "%(text)s is not a placeholder and is sent as written (use {{name}} or {{name|filter}}, "
        "without spaces)"
    ),
    # triggers and webhooks
    N_("no trigger for event %(event)s; known events: %(events)s"),
    N_("data.customer_whatsapp (or data.to) is required: the customer's WhatsApp number"),
    N_("no trigger with id %(id)s"),
    N_("%(name)s cannot be changed"),
    N_("an event name is 1-100 letters, digits, '.', '_', ':' or '-' (e.g. invoice.created)"),
    N_("a trigger for event %(event)s exists already"),
    N_("the event failed"),
    N_("%(code)s: %(reason)s (event id %(event_id)s)"),
    N_("unknown event %(event)s; choose from %(events)s"),
    N_("no webhook with id %(id)s"),
    N_("give an http:// or https:// URL with a host"),
    N_("the URL is longer than 2000 characters"),
    N_("Kabar does not post to %(what)s"),
    ("webhook %(id)s: %(detail)s", N_("webhook %(id)s could not be delivered")),
    # attachments (workers.pipeline.attachments, webapp.core.media_types)
    N_("media is an object {url or base64, type}"),
    N_("mimetype is a MIME type such as application/pdf"),
    N_("give either url or base64"),
    N_("the URL must not carry a user name or password; Kabar does not send them"),
    N_("%(key)s is text of 1 to %(count)s characters"),
    N_("base64 is the file's bytes in base64"),
    N_("base64 is not valid base64"),
    N_("the file has more than %(mb)s MB, the most Kabar sends"),
    N_("the media URL answered HTTP %(status)s"),
    N_("the media URL answered with a redirect (HTTP %(status)s), which Kabar does not follow"),
    N_("Kabar does not fetch media from %(what)s"),
    ("the media URL could not be reached: %(detail)s", N_("the media URL could not be reached")),
    N_("the media URL did not answer within %(seconds)s s"),
    N_("the media URL gave a file Kabar cannot send: %(reason)s"),
    N_("the attachment %(sha)s was not in Redis; nothing was sent"),
    (
        "the attachment %(sha)s could not be read from Redis (%(detail)s); nothing was sent",
        N_("the attachment %(sha)s could not be read from Redis; nothing was sent"),
    ),
    N_("fileName has at most %(count)s characters"),
    N_("mediaType must be one of %(choices)s"),
    N_("%(transport)s cannot send images or documents"),
    N_("the file is empty"),
    N_("the file has %(size)s bytes, more than the %(mb)s MB WhatsApp takes"),
    N_("the file is an HTML page, not a document"),
    N_("the file is not a PDF (it is %(mimetype)s)"),
    N_("the file is not a JPEG, PNG or WebP image (it is %(mimetype)s)"),
    N_("the image has too many pixels to send"),
    N_("WhatsApp refused the %(type)s: %(reason)s (simulated)"),
    # the API's request checks (webapp.api.schemas, marshmallow's own)
    N_("give at least one of priority, intervalMs, jitterMs, dailyCap, warmup"),
    N_("%(fault)s needs %(needs)s"),
    N_("a ban lasts more than 0 seconds"),
    N_("a message without media needs a text"),
    N_("give templateId or name"),
    N_("give a template's name or its numeric id"),
    N_("a template's name has 1 to 100 characters"),
    N_("give template or templateId, not both"),
    N_("the event id is text or a whole number"),
    N_("the event id has 1 to 200 characters"),
    N_("the body is not valid JSON"),
    N_("the body must be a JSON object"),
    N_("Missing data for required field."),
    N_("Not a valid integer."),
    N_("Invalid type."),
    N_("Not a valid number."),
    N_("Not a valid string."),
    N_("Not a valid boolean."),
    N_("Not a valid email address."),
    N_("Not a valid URL."),
    N_("Not a valid list."),
    N_("Not a valid mapping type."),
    N_("Unknown field."),
    N_("Field may not be null."),
    N_("Invalid input type."),
    N_("Must be one of: %(choices)s."),
    N_("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    N_("Must be greater than or equal to %(min)s."),
    N_("Must be less than or equal to %(max)s."),
    N_("Length must be between %(min)s and %(max)s."),
    N_("Shorter than minimum length %(min)s."),
    N_("Longer than maximum length %(max)s."),
    N_("Not a valid datetime."),
    N_("Not a valid utf-8 string."),
    N_("Number too large."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    # the billing apps' dialects (webapp.compat)
    N_("missing; this field is required"),
    N_("missing; give a Kabar API key as %(field)s"),
    N_("the API key is wrong or revoked"),
    N_("too many requests for this API key; retry in %(seconds)s s"),
    ("not valid JSON: %(detail)s", N_("not valid JSON")),
    N_("a JSON body must be an object of fields"),
    N_("must be text, not %(type)s"),
    N_("must be text in UTF-8, without lone surrogates"),
    N_("use GET or POST for %(path)s, not %(method)s"),
    N_("must be an http:// or https:// address of the file"),
    N_("no linked WhatsApp number matches"),
    N_("at most %(count)s recipients per request; use a bulk send for more"),
    N_("sender %(phone)s is %(status)s; it cannot check numbers now"),
    N_("no linked WhatsApp number is connected to check numbers with"),
    N_("the number could not be checked now; the session host did not answer; retry later"),
    N_("the digits of a country calling code, e.g. 62 (0: numbers as written)"),
    N_("missing; give a message, a url, or both"),
    N_("the message is empty once this target's variables are filled in"),
    N_("seconds, e.g. 2, or a range such as 1-10"),
    N_("a unix timestamp in seconds, or 0 for now"),
    N_(
        "Kabar sends single messages at once and does not schedule them; send at the time, or "
        "use a bulk send with scheduleAt"
    ),
    N_("not supported by Kabar; send text, or a file by url"),
    N_("this key lacks the %(scope)s scope"),
    N_("nested far too deeply"),
    # admins, keys, bulk resends, amounts
    N_("no admin %(email)s"),
    N_("unknown scope %(scope)s; choose from %(scopes)s"),
    N_("give a key at least one scope of %(scopes)s"),
    N_("bulk send %(id)s is %(status)s"),
    N_("bulk send %(id)s has no failed message"),
    N_("%(value)s is too large an amount"),
)
# The least fixed text a shape needs to be tried inside another one's reason.
_LEAST_NESTED = 3
_GENERIC = N_("error reported by WhatsApp or the number's client")
_PART = re.compile(r"%\((\w+)\)s")
_VALUE = r"[^;\n]+?"  # a value never spans the "; " that joins the reasons of several numbers
_ANY = r".+?"
# Parts that are whole sentences, and values narrower than any text.
_KINDS = {
    "reason": _ANY,
    "why": _ANY,
    "detail": _ANY,
    "variable": r"[\w.\-]+",  # a template variable's name
    "smtp_code": r"\w+",
}
# "field: message" and "session-1: reason", as the pages and the sending worker join them.
_PREFIXED = re.compile(r"([\w.\-\[\]]+): (.+)", re.DOTALL)


@dataclass(frozen=True)
class Explained:
    """A stored reason in the current language, and the technical detail it carried."""

    summary: str
    details: list[str] = field(default_factory=list)
    known: bool = True


@dataclass(frozen=True)
class _Shape:
    pattern: re.Pattern
    sentence: str
    weight: int  # the length of its fixed text: the most specific shape wins


@functools.cache
def _shapes() -> tuple[_Shape, ...]:
    shapes = []
    for entry in PHRASES:
        shape, sentence = entry if isinstance(entry, tuple) else (entry, entry)
        pieces, last = [], 0
        for part in _PART.finditer(shape):
            pieces.append(re.escape(shape[last : part.start()]))
            name = part.group(1)
            pieces.append(f"(?P<{name}>{_KINDS.get(name, _VALUE)})")
            last = part.end()
        pieces.append(re.escape(shape[last:]))
        fixed = len(_PART.sub("", shape))
        shapes.append(_Shape(re.compile("".join(pieces), re.DOTALL), sentence, fixed))
    return tuple(sorted(shapes, key=lambda s: -s.weight))


def shape_of(text: str) -> str | None:
    """The catalogue's message id for ``text``, or None when it has no shape here."""
    for shape in _shapes():
        if (match := shape.pattern.fullmatch(text)) and _fill(shape, match):
            return shape.sentence
    return None


def _translate(text: str, nested: bool = False) -> Explained:
    text = str(text).strip()
    for shape in _shapes():
        if nested and shape.weight < _LEAST_NESTED:
            break  # "name reason" inside a reason would match any run of words
        if (match := shape.pattern.fullmatch(text)) and (found := _fill(shape, match)):
            return found
    if "; " in text:  # reasons of several numbers, joined
        parts = [_translate(part) for part in text.split("; ")]
        if all(p.known for p in parts):
            return Explained(
                "; ".join(p.summary for p in parts), [d for p in parts for d in p.details]
            )
    if match := _PREFIXED.fullmatch(text):
        inner = _translate(match.group(2))
        if inner.known:
            return Explained(f"{match.group(1)}: {inner.summary}", inner.details)
    return Explained(text, [], known=False)


def _fill(shape: _Shape, match: re.Match) -> Explained | None:
    """The shape's sentence with the text's values; None when its reason is no sentence of
    this catalogue (the shape only looked alike)."""
    values, details = {}, []
    for name, value in match.groupdict().items():
        if name == "detail":
            details.append(value)
        elif name in ("reason", "why"):
            inner = _translate(value, nested=True)
            if not inner.known:
                if name == "why":
                    return None
                inner = Explained(gettext(_GENERIC), [value])
            values[name] = inner.summary
            details += inner.details
        else:
            values[name] = value
    return Explained(gettext(shape.sentence, **values), details)


def say(text: str | None) -> str:
    """``text`` in the current language, its technical detail in brackets; as written when
    the catalogue does not know its shape."""
    if not text:
        return ""
    explained = _translate(text)
    if explained.details:
        return f"{explained.summary} ({'; '.join(explained.details)})"
    return explained.summary


def explain(reason: str | None) -> Explained | None:
    """A stored failure reason (a message's ``error_message``, a session's ``last_error``) in
    the current language, with its technical detail apart; an unknown reason (a raw error from
    WhatsApp's library) is "an error reported by WhatsApp" with the whole text as detail."""
    if not reason:
        return None
    explained = _translate(reason)
    if explained.known:
        return explained
    return Explained(gettext(_GENERIC), [explained.summary], known=False)
