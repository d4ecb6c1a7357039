"""Request bodies of the JSON API. Unknown fields are ignored so integrations can grow."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from webapp.intake.templates import CATEGORIES as TEMPLATE_CATEGORIES
from webapp.intake.templates import TYPES as TEMPLATE_TYPES
from workers.queue.contracts import MEDIA_TYPES
from workers.session_host.simulated_network import FAULTS as SIMULATOR_FAULTS


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE


class CreateSessionSchema(_Base):
    deviceId = fields.String(required=True, validate=validate.Length(min=1, max=100))
    priority = fields.Integer(load_default=999, validate=validate.Range(min=1, max=9999))
    transport = fields.String(load_default=None, validate=validate.OneOf(["neonize", "simulator"]))
    # A new number warms up from its first link; one long in use on a phone need not.
    warmup = fields.Boolean(load_default=False)


class UpdateSessionSchema(_Base):
    priority = fields.Integer(validate=validate.Range(min=1, max=9999))
    intervalMs = fields.Integer(
        attribute="interval_ms", validate=validate.Range(min=100, max=3_600_000)
    )
    jitterMs = fields.Integer(attribute="jitter_ms", validate=validate.Range(min=0, max=600_000))
    dailyCap = fields.Integer(
        attribute="daily_cap", allow_none=True, validate=validate.Range(min=1, max=1_000_000)
    )
    # true: start the warm-up of a new number now; false: end it.
    warmup = fields.Boolean()

    @validates_schema
    def something(self, values, **_):
        if not values:
            raise ValidationError(
                "give at least one of priority, intervalMs, jitterMs, dailyCap, warmup", "body"
            )


class ScanSchema(_Base):
    phone = fields.String(load_default=None, validate=validate.Length(min=6, max=20))


class PairSchema(_Base):
    phone = fields.String(required=True, validate=validate.Length(min=6, max=32))


class FaultSchema(_Base):
    """A simulator fault: ``send_errors`` needs ``rate`` (0..1), ``latency`` needs ``ms``;
    ``seconds`` is how long a ``disconnect`` keeps the network down or a ``ban`` lasts."""

    fault = fields.String(required=True, validate=validate.OneOf(SIMULATOR_FAULTS))
    rate = fields.Float(validate=validate.Range(min=0, max=1))
    ms = fields.Integer(validate=validate.Range(min=0, max=600_000))
    seconds = fields.Float(validate=validate.Range(min=0, max=30 * 86_400))

    @validates_schema
    def needed_parameter(self, values, **_):
        needs = {"send_errors": "rate", "latency": "ms"}.get(values.get("fault"))
        if needs and values.get(needs) is None:
            raise ValidationError(f"{values['fault']} needs {needs}", needs)
        if values.get("fault") == "ban" and values.get("seconds") == 0:
            raise ValidationError("a ban lasts more than 0 seconds", "seconds")


class OnWhatsAppSchema(_Base):
    """Simulator: numbers the simulated network has no WhatsApp for (or has again)."""

    phones = fields.List(
        fields.String(validate=validate.Length(min=3, max=64)),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )
    onWhatsApp = fields.Boolean(load_default=False)


class IncomingSchema(_Base):
    """Simulator: a customer writes; with ``mediaType`` the text is the media's caption and may
    be empty (a payment screenshot sent alone)."""

    from_ = fields.String(data_key="from", required=True, validate=validate.Length(min=3, max=64))
    text = fields.String(load_default="", validate=validate.Length(max=4096))
    pushName = fields.String(load_default=None, validate=validate.Length(max=255))
    mediaType = fields.String(load_default=None, validate=validate.OneOf(MEDIA_TYPES))

    @validates_schema
    def text_or_media(self, values, **_):
        if not values.get("text") and not values.get("mediaType"):
            raise ValidationError("a message without media needs a text", "text")


class TemplateReference(fields.Field):
    """A template named by its name or by its numeric id (``"payment_reminder"``, ``3``), kept
    as given: ``templates.lookup`` resolves it, and an id no row can have is "not found"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError("give a template's name or its numeric id")
        if isinstance(value, str) and not 1 <= len(value.strip()) <= 100:
            raise ValidationError("a template's name has 1 to 100 characters")
        return value


class MediaSchema(_Base):
    """An image or a document to send: by ``url`` (Kabar fetches it) or as ``base64``."""

    url = fields.String(
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "http(s); fetched by Kabar before sending"},
    )
    base64 = fields.String(
        validate=validate.Length(min=1),
        metadata={"description": "the file's bytes (a data: URL is taken too)"},
    )
    type = fields.String(required=True, validate=validate.OneOf(["image", "document"]))
    fileName = fields.String(
        validate=validate.Length(min=1, max=255), metadata={"description": "shown for documents"}
    )
    mimetype = fields.String(
        validate=validate.Length(min=3, max=100),
        metadata={"description": "e.g. application/pdf; read from the bytes when absent"},
    )


class SendSchema(_Base):
    to = fields.String(required=True, validate=validate.Length(min=3, max=64))
    template = TemplateReference()
    templateId = TemplateReference()  # the same: a name or an id
    data = fields.Dict(keys=fields.String(), load_default=dict)
    text = fields.String()
    idempotencyKey = fields.String(validate=validate.Length(min=1, max=200))
    # Without priority a single send is urgent; with one (1 highest .. 10) it waits its turn.
    priority = fields.Integer(validate=validate.Range(min=1, max=10))
    routing = fields.String(validate=validate.OneOf(["failover", "spread"]))
    sessionId = fields.String(validate=validate.Length(min=1, max=100))
    # Where the e-mail fallback sends the message if WhatsApp cannot deliver it.
    email = fields.Email(validate=validate.Length(max=255))
    # The text or template is the caption; the media service checks the file itself.
    media = fields.Nested(MediaSchema)

    @validates_schema
    def one_body(self, values, **_):
        if "template" in values and "templateId" in values:
            raise ValidationError("give template or templateId, not both", "templateId")
        templated = "template" in values or "templateId" in values
        if templated and "text" in values:
            raise ValidationError("give either template (with data) or text", "template")
        if not templated and "text" not in values and "media" not in values:
            raise ValidationError("give either template (with data) or text", "template")


# Billing data is flat: anything nested deeper is refused before a view walks it.
MAX_JSON_DEPTH = 32


def json_body() -> Any:
    """The request's JSON body (whatever its Content-Type), None when there is none. Malformed
    JSON, nesting deeper than ``MAX_JSON_DEPTH`` and NUL characters (no database column holds
    one) are a 400 naming the field."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise ValidationError({"body": [f"nested deeper than {MAX_JSON_DEPTH} levels"]}) from None
    except ValueError:
        raise ValidationError({"body": ["the body is not valid JSON"]}) from None
    check_json(payload)
    return payload


def check_json(payload: Any) -> None:
    """Refuse ``payload`` (parsed JSON) nested too deeply or holding a NUL character."""
    pending: list[tuple[str, Any, int]] = [("body", payload, 0)]
    while pending:
        path, value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValidationError({path: [f"nested deeper than {MAX_JSON_DEPTH} levels"]})
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError({path: ["contains a NUL character"]})
        if isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and "\x00" in key:
                    raise ValidationError({path: ["a name contains a NUL character"]})
                name = key if path == "body" else f"{path}.{key}"
                pending.append((str(name), item, depth + 1))


def load_json(schema: Schema) -> dict:
    """Parse the request's JSON body with ``schema``; malformed bodies are a 400 naming 'body'."""
    payload = json_body()
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ValidationError({"body": ["the body must be a JSON object"]})
    return schema.load(payload)


class TemplateSchema(_Base):
    """A template as the API takes it (``PUT`` loads it with ``partial=True``). Type-specific
    parts: ``mediaUrl``, ``mediaType`` and ``fileName`` (media), ``buttons`` (button),
    ``buttonText`` and ``sections`` (list), ``footer`` (button, list). ``variables`` is not
    taken: it is read from the content."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    category = fields.String(validate=validate.OneOf(TEMPLATE_CATEGORIES))
    type = fields.String(validate=validate.OneOf(TEMPLATE_TYPES))
    content = fields.String(required=True)
    language = fields.String(validate=validate.Length(min=2, max=5))
    isActive = fields.Boolean(attribute="is_active")
    # The seed's spelling, taken too; isActive wins when both are given.
    is_active = fields.Boolean(attribute="is_active_seed")
    mediaUrl = fields.String(attribute="media_url", allow_none=True)
    mediaType = fields.String(attribute="media_type", allow_none=True)
    fileName = fields.String(attribute="file_name", allow_none=True)
    buttons = fields.List(fields.Raw(), allow_none=True)
    footer = fields.String(allow_none=True, validate=validate.Length(max=1024))
    buttonText = fields.String(attribute="button_text", allow_none=True)
    sections = fields.List(fields.Raw(), allow_none=True)

    @post_load
    def one_is_active(self, values, **_):
        seed = values.pop("is_active_seed", None)
        if "is_active" not in values and seed is not None:
            values["is_active"] = seed
        return values


class PreviewSchema(_Base):
    templateId = TemplateReference(attribute="template_id")
    name = fields.String(validate=validate.Length(min=1, max=100))
    data = fields.Dict(keys=fields.String(), load_default=dict)

    @validates_schema
    def one_template(self, values, **_):
        if "template_id" not in values and "name" not in values:
            raise ValidationError("give templateId or name", "templateId")


class _EventId(fields.Field):
    """An event id: text or a whole number (billing systems send both), kept as text."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("the event id is text or a whole number")
        value = str(value).strip()
        if not 1 <= len(value) <= 200:
            raise ValidationError("the event id has 1 to 200 characters")
        return value


class EventSchema(_Base):
    """``POST /api/events``: ``{event, id, data}`` from the billing system."""

    event = fields.String(required=True, validate=validate.Length(min=1, max=100))
    id = _EventId(required=True)
    data = fields.Dict(keys=fields.String(), load_default=dict)
