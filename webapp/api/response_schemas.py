"""What the JSON API answers, as marshmallow schemas the OpenAPI document is built from.

The views build their answers as plain dicts (``session_json``, ``status_json``, ...); these
schemas describe those dicts field by field. The schemathesis run in CI checks every answer
against them, so a view that changes its shape without changing its schema fails there.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.intake.templates import CATEGORIES, TYPES
from workers.pipeline import webhooks
from workers.pipeline.routing import HOLDS
from workers.queue.contracts import BULK_STATUSES, MESSAGE_STATUSES, SESSION_STATES

_REQ = {"required": True}
_NULL = {"required": True, "allow_none": True}


def _time(**kwargs) -> fields.Field:
    """A moment as the API writes it: ISO 8601 in UTC with milliseconds and a Z, or null."""
    return fields.DateTime(**_NULL, **kwargs)


class ErrorDetail(Schema):
    code = fields.String(**_REQ, metadata={"description": "machine-readable reason"})
    message = fields.String(**_REQ, metadata={"description": "what went wrong, for a person"})
    field = fields.String(
        allow_none=True,
        metadata={"description": "the (dotted) field at fault, where there is one"},
    )
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "every field at fault with its reasons"},
    )


class Error(Schema):
    """Every refusal of the JSON API: ``{"error": {"code", "field", "message"}}``."""

    error = fields.Nested(ErrorDetail, **_REQ)


class Warmup(Schema):
    day = fields.Integer(**_REQ)
    allowance = fields.Integer(**_REQ, allow_none=True)
    sentToday = fields.Integer(**_REQ)


class DailyLimit(Schema):
    cap = fields.Integer(**_REQ, metadata={"description": "what the number may send today"})
    sent = fields.Integer(**_REQ)
    reached = fields.Boolean(**_REQ)
    cause = fields.String(**_REQ, validate=validate.OneOf(["daily_cap", "warmup"]))


class Session(Schema):
    id = fields.String(**_REQ, metadata={"example": "session-1"})
    deviceId = fields.String(**_REQ)
    status = fields.String(**_REQ, validate=validate.OneOf(SESSION_STATES))
    isPrimary = fields.Boolean(**_REQ)
    priority = fields.Integer(**_REQ)
    messageCount = fields.Integer(**_REQ)
    lastActivity = _time()
    phoneNumber = fields.String(**_NULL)
    transport = fields.String(**_NULL)
    errorCount = fields.Integer(**_REQ)
    lastError = fields.String(**_NULL)
    intervalMs = fields.Integer(**_REQ)
    jitterMs = fields.Integer(**_REQ)
    dailyCap = fields.Integer(**_NULL)
    banExpiresAt = _time()
    warmupStartedAt = _time()
    warmup = fields.Nested(Warmup, **_NULL)
    warmupOnLink = fields.Boolean(
        **_REQ, metadata={"description": "the warm-up starts when a number is first linked"}
    )
    dailyLimit = fields.Nested(DailyLimit, **_NULL)


class OneSession(Schema):
    session = fields.Nested(Session, **_REQ)


class SessionList(Schema):
    sessions = fields.List(fields.Nested(Session), **_REQ)


class SessionDeleted(Schema):
    deleted = fields.String(**_REQ)


class Qr(Schema):
    qr = fields.String(**_NULL, metadata={"description": "a PNG data URL, null without a QR"})
    expires = fields.Integer(**_NULL, metadata={"description": "seconds the QR stays valid"})


class SessionAction(Schema):
    """What the session host answered; ``id`` is the session's, the rest depends on the call."""

    class Meta:
        unknown = "include"

    id = fields.String(**_REQ)
    status = fields.String(allow_none=True)


class PairingCode(Schema):
    id = fields.String(**_REQ)
    code = fields.String(**_REQ, metadata={"description": "8 characters to type on the phone"})


class Faults(Schema):
    id = fields.String(**_REQ)
    faults = fields.Dict(**_REQ, keys=fields.String())


class Inbox(Schema):
    phone = fields.String(**_REQ)
    messages = fields.List(fields.Dict(keys=fields.String()), **_REQ)


class OnWhatsApp(Schema):
    phones = fields.List(fields.String(), **_REQ)
    onWhatsApp = fields.Boolean(**_REQ)


class SendAccepted(Schema):
    id = fields.Integer(**_REQ)
    status = fields.String(**_REQ, validate=validate.OneOf(MESSAGE_STATUSES))
    to = fields.String(**_REQ)
    duplicate = fields.Boolean(
        **_REQ, metadata={"description": "true: the idempotencyKey was seen, nothing new queued"}
    )
    statusUrl = fields.String(**_REQ)


class MessageMedia(Schema):
    type = fields.String(**_REQ, validate=validate.OneOf(["image", "document"]))
    url = fields.String(**_NULL, metadata={"description": "where Kabar fetches it, if by URL"})
    sha256 = fields.String(
        **_NULL, metadata={"description": "of the bytes sent; null until a URL is fetched"}
    )
    fileName = fields.String(**_NULL)


class MessageStatus(Schema):
    id = fields.Integer(**_REQ)
    status = fields.String(**_REQ, validate=validate.OneOf(MESSAGE_STATUSES))
    to = fields.String(**_REQ)
    sentAt = _time()
    deliveredAt = _time()
    readAt = _time()
    sessionId = fields.String(**_NULL)
    error = fields.String(**_NULL)
    retryCount = fields.Integer(**_NULL)
    priority = fields.Integer(**_NULL)
    band = fields.String(**_NULL)
    heldReason = fields.String(
        **_NULL,
        validate=validate.OneOf(HOLDS),
        metadata={"description": "why a queued message may not go out yet"},
    )
    heldUntil = _time(metadata={"description": "the earliest time it may"})
    renderMode = fields.String(
        **_NULL,
        validate=validate.OneOf(["media", "text"]),
        metadata={
            "description": "media: sent as an image or document, the text its caption; text: "
            "a button or list template sent as text; null: a plain text"
        },
    )
    media = fields.Nested(MessageMedia, **_NULL)


class Template(Schema):
    id = fields.Integer(**_REQ)
    name = fields.String(**_REQ)
    category = fields.String(**_REQ, validate=validate.OneOf(CATEGORIES))
    type = fields.String(**_REQ, validate=validate.OneOf(TYPES))
    content = fields.String(**_REQ)
    variables = fields.List(fields.String(), **_REQ)
    language = fields.String(**_NULL)
    isActive = fields.Boolean(**_REQ)
    builtIn = fields.Boolean(**_REQ)
    mediaUrl = fields.String(allow_none=True, metadata={"description": "media templates"})
    mediaType = fields.String(
        allow_none=True,
        validate=validate.OneOf(["image", "document"]),
        metadata={"description": "media templates: sent as an image or a document"},
    )
    fileName = fields.String(
        allow_none=True,
        metadata={"description": "media templates of documents; may hold variables"},
    )
    buttons = fields.List(fields.Raw(), metadata={"description": "button templates"})
    buttonText = fields.String(allow_none=True, metadata={"description": "list templates"})
    sections = fields.List(fields.Raw(), metadata={"description": "list templates"})
    footer = fields.String(allow_none=True, metadata={"description": "button and list"})
    triggers = fields.List(fields.String(), **_REQ)
    warnings = fields.List(fields.String(), **_REQ)
    createdAt = _time()
    updatedAt = _time()


class TemplateSaved(Schema):
    template = fields.Nested(Template, **_REQ)
    warnings = fields.List(fields.String(), **_REQ)


class OneTemplate(Schema):
    template = fields.Nested(Template, **_REQ)


class TemplateList(Schema):
    templates = fields.List(fields.Nested(Template), **_REQ)


class TemplateDeleted(Schema):
    id = fields.Integer(**_REQ)
    name = fields.String(**_REQ)
    deleted = fields.Boolean(**_REQ)


class Preview(Schema):
    template = fields.String(**_REQ)
    message = fields.String(**_REQ)
    length = fields.Integer(**_REQ)
    maxLength = fields.Integer(**_REQ)
    mediaUrl = fields.String(**_NULL)
    mediaType = fields.String(**_NULL)
    fileName = fields.String(**_NULL)
    renderMode = fields.String(
        **_NULL,
        metadata={
            "description": "media: sent as an image or document with the message as caption; "
            "text: a button or list template sent as text"
        },
    )
    variables = fields.List(fields.String(), **_REQ)
    missing = fields.List(fields.String(), **_REQ)
    unused = fields.List(fields.String(), **_REQ)
    invalid = fields.Dict(**_REQ, keys=fields.String(), values=fields.String())
    warnings = fields.List(fields.String(), **_REQ)


class EventOutcome(Schema):
    event = fields.String(**_REQ)
    id = fields.String(**_REQ)
    status = fields.String(**_REQ, metadata={"description": "queued, skipped or failed"})
    duplicate = fields.Boolean(**_REQ)
    reason = fields.String(allow_none=True, metadata={"description": "why it was skipped"})
    messageId = fields.Integer()
    jobId = fields.String()
    queued = fields.Integer()
    statusUrl = fields.String()


class BulkRecipient(Schema):
    whatsapp = fields.String(**_REQ)
    data = fields.Dict(keys=fields.String())
    email = fields.Email()


class BulkSend(Schema):
    """``POST /api/whatsapp/send-bulk`` (checked by ``webapp.intake.bulk.submit.parse_request``)."""

    recipients = fields.List(
        fields.Nested(BulkRecipient), **_REQ, validate=validate.Length(min=1, max=10_000)
    )
    template = fields.String(**_REQ, validate=validate.Length(min=1))
    templateData = fields.Dict(keys=fields.String(), allow_none=True)
    priority = fields.Integer(validate=validate.Range(min=1, max=10))
    scheduleAt = fields.DateTime(allow_none=True)
    routing = fields.String(allow_none=True, validate=validate.OneOf(["failover", "spread"]))


class Forecast(Schema):
    today = fields.Integer(**_REQ, metadata={"description": "go out today"})
    waiting = fields.Integer(**_REQ, metadata={"description": "wait for a limit"})
    heldReason = fields.Dict(
        keys=fields.String(validate=validate.OneOf(HOLDS)), values=fields.Integer(), **_REQ
    )
    heldUntil = fields.Dict(
        keys=fields.String(validate=validate.OneOf(HOLDS)),
        values=fields.DateTime(allow_none=True),
        **_REQ,
    )


class BulkAccepted(Schema):
    jobId = fields.String(**_REQ)
    forecast = fields.Nested(
        Forecast, allow_none=True, metadata={"description": "null for a send scheduled later"}
    )
    queued = fields.Integer(**_REQ)
    status = fields.String(**_REQ, validate=validate.OneOf(BULK_STATUSES))
    scheduleAt = _time()
    statusUrl = fields.String(**_REQ)


class BulkCounts(Schema):
    class Meta:
        unknown = "include"

    queued = fields.Integer(**_REQ)
    paused = fields.Integer(**_REQ)
    sent = fields.Integer(**_REQ)
    delivered = fields.Integer(**_REQ)
    read = fields.Integer(**_REQ)
    failed = fields.Integer(**_REQ)
    cancelled = fields.Integer(**_REQ)


class BulkSummary(Schema):
    jobId = fields.String(**_REQ)
    status = fields.String(**_REQ, validate=validate.OneOf(BULK_STATUSES))
    total = fields.Integer(**_REQ)
    expanded = fields.Integer(**_REQ)
    notExpanded = fields.Integer(**_REQ)
    invalid = fields.Integer(**_REQ)
    duplicates = fields.Integer(**_REQ)
    counts = fields.Nested(BulkCounts, **_REQ)
    progress = fields.Float(**_REQ, metadata={"description": "percent"})
    priority = fields.Integer(**_REQ)
    routing = fields.String(**_NULL)
    errorsTruncated = fields.Boolean(**_REQ)
    scheduleAt = _time()
    createdAt = _time()
    startedAt = _time()
    finishedAt = _time()


class BulkReport(BulkSummary):
    errors = fields.List(
        fields.Dict(keys=fields.String()),
        **_REQ,
        metadata={"description": "the recipients that were refused, with the reason"},
    )


class BulkList(Schema):
    jobs = fields.List(fields.Nested(BulkSummary), **_REQ)


class DailyMetrics(Schema):
    date = fields.Date(**_REQ)
    messagesSent = fields.Integer(**_REQ)
    messagesDelivered = fields.Integer(**_REQ)
    messagesRead = fields.Integer(**_REQ)
    averageDeliveryTime = fields.Float(**_NULL, metadata={"description": "seconds"})
    errors = fields.Integer(**_REQ)
    activeSessions = fields.Integer(**_REQ)


class LastDelivery(Schema):
    event = fields.String(**_NULL)
    statusCode = fields.Integer(**_NULL)
    error = fields.String(**_NULL)
    at = _time()
    ok = fields.Boolean(**_REQ)


class Webhook(Schema):
    id = fields.Integer(**_REQ)
    url = fields.String(**_REQ)
    events = fields.List(fields.String(validate=validate.OneOf(webhooks.EVENTS)), **_REQ)
    active = fields.Boolean(**_REQ)
    createdAt = _time()
    deliveries = fields.Integer(**_NULL)
    failures = fields.Integer(**_NULL)
    lastDelivery = fields.Nested(LastDelivery, **_NULL)
    lastSuccessAt = _time()


class WebhookCreated(Schema):
    webhook = fields.Nested(Webhook, **_REQ)
    secret = fields.String(**_REQ, metadata={"description": "signs the deliveries; shown once"})


class OneWebhook(Schema):
    webhook = fields.Nested(Webhook, **_REQ)


class WebhookList(Schema):
    webhooks = fields.List(fields.Nested(Webhook), **_REQ)


class WebhookDeleted(Schema):
    deleted = fields.Integer(**_REQ)


class Settings(Schema):
    settings = fields.Dict(
        **_REQ,
        keys=fields.String(),
        metadata={"description": "every setting; a secret only as {set: true|false}"},
    )
    sources = fields.Dict(
        **_REQ,
        keys=fields.String(),
        values=fields.String(validate=validate.OneOf(["saved", "default"])),
    )


# The MPWA dialect ---------------------------------------------------------------------------


class MpwaSend(Schema):
    """MPWA's fields, in the query string, a form or JSON (the body wins)."""

    api_key = fields.String(metadata={"description": "a Kabar API key, if not in the query"})
    sender = fields.String(
        metadata={"description": "the linked number to send from; 'any' or empty: Kabar chooses"}
    )
    number = fields.String(
        **_REQ,
        metadata={
            "description": "the recipient, or several joined by | (numbers are also taken as "
            "JSON numbers)"
        },
    )
    message = fields.String(**_REQ)
    footer = fields.String(metadata={"description": "sent after a blank line as > _footer_"})
    nomor_pengirim = fields.String(metadata={"description": "MIKBILL's name for sender"})
    nomor_penerima = fields.String(metadata={"description": "MIKBILL's name for number"})
    pesan = fields.String(metadata={"description": "MIKBILL's name for message"})


class MpwaMedia(Schema):
    api_key = fields.String()
    sender = fields.String()
    number = fields.String(**_REQ, metadata={"description": "the recipient, or several by |"})
    media_type = fields.String(
        **_REQ,
        validate=validate.OneOf(["image", "video", "audio", "document"]),
        metadata={"description": "video and audio are sent as a document (the file and its name)"},
    )
    url = fields.String(**_REQ, metadata={"description": "http(s) address of the file"})
    caption = fields.String()
    footer = fields.String()


class MpwaCheck(Schema):
    api_key = fields.String()
    sender = fields.String(metadata={"description": "the connected number to ask with"})
    number = fields.String(**_REQ)


class MpwaDevicesQuery(Schema):
    api_key = fields.String()
    number = fields.String(metadata={"description": "only the sessions of this linked number"})


class MpwaQueuedMessage(Schema):
    id = fields.Integer(**_REQ)
    to = fields.String(**_REQ)
    status = fields.String(**_REQ)
    status_url = fields.String(**_REQ)


class MpwaQueued(Schema):
    id = fields.Integer(**_REQ, metadata={"description": "the first recipient's message"})
    message_id = fields.Integer(**_REQ)
    status = fields.String(**_REQ)
    to = fields.String(**_REQ)
    sender = fields.String(**_NULL)
    session_id = fields.String(**_NULL)
    status_url = fields.String(**_REQ)
    messages = fields.List(
        fields.Nested(MpwaQueuedMessage), **_REQ, metadata={"description": "one per recipient"}
    )


class MpwaReply(Schema):
    """Every MPWA answer: ``{"status": true, "msg", "data"}`` or ``{"status": false, "msg",
    "field"}``."""

    status = fields.Boolean(**_REQ)
    msg = fields.String(**_REQ)
    field = fields.String(metadata={"description": "on refusals: the field at fault"})
    data = fields.Nested(MpwaQueued, metadata={"description": "on success"})


class MpwaChecked(Schema):
    status = fields.Boolean(**_REQ)
    msg = fields.Boolean(**_REQ, metadata={"description": "whether the number is on WhatsApp"})


class MpwaDevice(Schema):
    id = fields.Integer(**_REQ)
    body = fields.String(**_NULL, metadata={"description": "the linked phone number"})
    status = fields.String(**_REQ, validate=validate.OneOf(["Connected", "Disconnected"]))
    message_sent = fields.Integer(**_REQ)
    session_id = fields.String(**_REQ)
    state = fields.String(**_REQ, validate=validate.OneOf(SESSION_STATES))
    is_primary = fields.Boolean(**_REQ)
    created_at = fields.String(**_NULL)
    updated_at = fields.String(**_NULL)


class MpwaDevices(Schema):
    status = fields.Boolean(**_REQ)
    info = fields.List(fields.Nested(MpwaDevice), **_REQ)


# The Fonnte dialect -------------------------------------------------------------------------


class FonnteSend(Schema):
    """Fonnte's fields, in a form, JSON or the query string."""

    token = fields.String(metadata={"description": "a Kabar API key, if not in Authorization"})
    target = fields.String(
        **_REQ, metadata={"description": "numbers, comma-separated; each number|name|var1|..."}
    )
    message = fields.String(metadata={"description": "may hold {name}, {var1}, ..."})
    url = fields.String(metadata={"description": "a file to send, the message its caption"})
    filename = fields.String()
    countryCode = fields.String(metadata={"description": "replaces a leading 0; default 62"})
    delay = fields.String(metadata={"description": "checked; each number's own interval applies"})
    schedule = fields.String(metadata={"description": "0 or now; a future time is refused"})


class FonnteReply(Schema):
    """Every Fonnte answer: ``{"status": true, "detail", "id", "process", "target"}`` or
    ``{"status": false, "reason", "field"}``, both with HTTP 200."""

    status = fields.Boolean(**_REQ)
    detail = fields.String()
    id = fields.List(fields.String(), metadata={"description": "one message id per target"})
    process = fields.String()
    target = fields.List(fields.String())
    reason = fields.String(metadata={"description": "on refusals"})
    field = fields.String(metadata={"description": "on refusals: the field at fault"})
