"""The OpenAPI 3.1 document of the JSON API and of the MPWA dialect, at /api/openapi.json, and
Swagger UI reading it at /api/docs (served from the flask-swagger-ui package: no CDN).

The document is built with apispec from the marshmallow schemas the views load their bodies with
(``webapp.api.schemas``) and the ones describing their answers (``webapp.api.response_schemas``).
``OPERATIONS`` says, per Flask endpoint, which schemas and statuses an operation has; paths and
methods come from the app's URL map, so the document names exactly the routes the app serves
(``tests/api/test_openapi.py`` fails when a route has no entry here).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import flask_swagger_ui
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify, url_for
from marshmallow import Schema

from webapp import settings
from webapp.api import response_schemas as out
from webapp.api import schemas as body
from webapp.api import scopes
from webapp.api.metrics import MetricsQuerySchema
from webapp.api.webhooks import CreateWebhookSchema

bp = Blueprint(
    "api_docs",
    __name__,
    url_prefix="/api",
    static_folder=str(Path(flask_swagger_ui.__file__).parent / "dist"),
    static_url_path="/docs/static",
)

# Endpoints that are routes but not operations an integrator calls.
UNDOCUMENTED = {
    # Only answer PUT/PATCH/DELETE in the dialect's shape.
    "api_compat.wrong_method": "a refusal of the wrong methods of MPWA's paths",
    "api_fonnte.wrong_method": "a refusal of the wrong methods of Fonnte's /send",
}


@dataclass(frozen=True)
class Operation:
    """One endpoint: its answers by status, its body and query schemas, and its refusals."""

    summary: str
    ok: dict[int, type[Schema]]
    body: type[Schema] | Schema | None = None
    query: type[Schema] | None = None
    query_params: tuple[dict, ...] = ()
    refusals: tuple[int, ...] = ()
    links: dict[str, dict] = field(default_factory=dict)
    description: str = ""


def _link(operation_id: str, **parameters: str) -> dict:
    return {"operationId": operation_id, "parameters": parameters}


_SESSION = "$response.body#/session/id"
_SESSION_LINKS = {
    "GetSession": _link("get_session", session_id=_SESSION),
    "UpdateSession": _link("update_session", session_id=_SESSION),
    "SessionQr": _link("session_qr", session_id=_SESSION),
    "ScanSession": _link("simulator_scan", session_id=_SESSION),
    "PairSession": _link("pair_phone", session_id=_SESSION),
    "InjectFault": _link("simulator_fault", session_id=_SESSION),
    "CustomerWrites": _link("simulator_incoming", session_id=_SESSION),
    "ReconnectSession": _link("reconnect_session", session_id=_SESSION),
    "LogoutSession": _link("logout_session", session_id=_SESSION),
    "DeleteSession": _link("delete_session", session_id=_SESSION),
}
_MESSAGE_LINKS = {
    "MessageStatus": _link("message_status", message_id="$response.body#/id"),
    "CancelMessage": _link("message_cancel", message_id="$response.body#/id"),
    "ResendMessage": _link("message_resend", message_id="$response.body#/id"),
}
_TEMPLATE = "$response.body#/template/id"
_TEMPLATE_LINKS = {
    "GetTemplate": _link("get_template", template_id=_TEMPLATE),
    "UpdateTemplate": _link("update_template", template_id=_TEMPLATE),
    "DeleteTemplate": _link("delete_template", template_id=_TEMPLATE),
}
_BULK_LINKS = {
    "BulkStatus": _link("bulk_status", job_id="$response.body#/jobId"),
    "PauseBulk": _link("pause_bulk", job_id="$response.body#/jobId"),
    "ResumeBulk": _link("resume_bulk", job_id="$response.body#/jobId"),
    "CancelBulk": _link("cancel_bulk", job_id="$response.body#/jobId"),
}
_WEBHOOK = "$response.body#/webhook/id"
_WEBHOOK_LINKS = {
    "GetWebhook": _link("get_webhook", webhook_id=_WEBHOOK),
    "DeleteWebhook": _link("delete_webhook", webhook_id=_WEBHOOK),
}

_HOSTED = (404, 409)  # no such session; the session host cannot act on it now
_TEMPLATE_QUERY = (
    {"in": "query", "name": "category", "schema": {"type": "string"}},
    {"in": "query", "name": "type", "schema": {"type": "string"}},
    {"in": "query", "name": "active", "schema": {"type": "string", "enum": ["true", "false"]}},
)

OPERATIONS: dict[str, Operation] = {
    # sessions
    "api.list_sessions": Operation("Every linked number", {200: out.SessionList}),
    "api.create_session": Operation(
        "Link a new number (it then shows a QR)",
        {201: out.OneSession},
        body.CreateSessionSchema,
        refusals=(409,),
        links=_SESSION_LINKS,
    ),
    "api.get_session": Operation("One session", {200: out.OneSession}, refusals=(404,)),
    "api.update_session": Operation(
        "Change a number's pacing, priority, daily cap or warm-up",
        {200: out.OneSession},
        body.UpdateSessionSchema,
        refusals=(404,),
    ),
    "api.delete_session": Operation(
        "Log the device out and remove the session", {200: out.SessionDeleted}, refusals=_HOSTED
    ),
    "api.session_qr": Operation(
        "The QR to scan, as a PNG data URL", {200: out.Qr}, refusals=(404,)
    ),
    "api.simulator_scan": Operation(
        "Simulator: pair the session as if its QR was scanned",
        {200: out.SessionAction},
        body.ScanSchema,
        refusals=_HOSTED + (422,),
    ),
    "api.pair_phone": Operation(
        "A pairing code to type on the phone instead of scanning the QR",
        {200: out.PairingCode},
        body.PairSchema,
        refusals=_HOSTED + (422,),
    ),
    "api.reconnect_session": Operation(
        "Reconnect the number (a new login after qr_expired)",
        {200: out.SessionAction},
        refusals=_HOSTED,
    ),
    "api.logout_session": Operation(
        "Unlink the number; it stays logged_out", {200: out.SessionAction}, refusals=_HOSTED
    ),
    "api.simulator_faults": Operation(
        "Simulator: the faults injected into the session", {200: out.Faults}, refusals=_HOSTED
    ),
    "api.simulator_fault": Operation(
        "Simulator: inject a fault (or clear them)",
        {200: out.SessionAction},
        body.FaultSchema,
        refusals=_HOSTED + (422,),
    ),
    "api.simulator_incoming": Operation(
        "Simulator: a customer writes to the number",
        {200: out.SessionAction},
        body.IncomingSchema,
        refusals=_HOSTED + (422,),
    ),
    "api.simulator_inbox": Operation(
        "Simulator: what a simulated phone received", {200: out.Inbox}, refusals=(422,)
    ),
    "api.simulator_on_whatsapp": Operation(
        "Simulator: which simulated numbers have WhatsApp",
        {200: out.OnWhatsApp},
        body.OnWhatsAppSchema,
        refusals=(422,),
    ),
    # messages
    "api.send": Operation(
        "Send one message, from a template or as text",
        {202: out.SendAccepted, 200: out.SendAccepted},
        body.SendSchema,
        refusals=(404, 409, 422),
        links=_MESSAGE_LINKS,
        description="202 when queued; 200 with `duplicate: true` when the idempotencyKey "
        "was seen before (nothing queued again). Without `priority` the message is urgent. "
        "With `media` ({url or base64, type: image or document, fileName, mimetype}) the "
        "message is an image or a document and the text (or template) its caption, which may "
        "be empty; a URL is fetched by Kabar just before sending, and one that cannot be "
        "fetched (refused address, an HTTP error, too large, not what `type` says) fails that "
        "message with the reason, before any number is spent. A template of type `media` "
        "brings its own attachment (its `mediaUrl` may hold variables). The message's "
        "`renderMode` is `media` then.",
    ),
    "api.message_status": Operation(
        "A message's status, to delivered and read", {200: out.MessageStatus}, refusals=(404,)
    ),
    "api.message_resend": Operation(
        "Queue a failed message again", {202: out.MessageStatus}, refusals=(404, 409)
    ),
    "api.message_cancel": Operation(
        "Stop a queued message", {200: out.MessageStatus}, refusals=(404, 409)
    ),
    # templates
    "api.list_templates": Operation(
        "Every template", {200: out.TemplateList}, query_params=_TEMPLATE_QUERY
    ),
    "api.create_template": Operation(
        "Save a new template",
        {201: out.TemplateSaved},
        body.TemplateSchema,
        refusals=(409, 422),
        links=_TEMPLATE_LINKS,
    ),
    "api.get_template": Operation("One template", {200: out.OneTemplate}, refusals=(404,)),
    "api.update_template": Operation(
        "Change what the body gives of a template",
        {200: out.TemplateSaved},
        body.TemplateSchema(partial=True),
        refusals=(404, 409, 422),
    ),
    "api.delete_template": Operation(
        "Remove a template", {200: out.TemplateDeleted}, refusals=(404, 409)
    ),
    "api.preview_template": Operation(
        "A template rendered with data; missing variables keep their placeholder",
        {200: out.Preview},
        body.PreviewSchema,
        refusals=(404, 422),
    ),
    # billing events and bulk sends
    "api.billing_event": Operation(
        "A billing event, turned into a message by its trigger",
        {202: out.EventOutcome, 200: out.EventOutcome},
        body.EventSchema,
        refusals=(404, 409, 422),
        description="202 when it queued a message or a bulk send; 200 when it was skipped "
        "or received before (`duplicate`).",
    ),
    "api.send_bulk": Operation(
        "One template to many recipients",
        {202: out.BulkAccepted},
        out.BulkSend,
        refusals=(404, 422),
        links=_BULK_LINKS,
    ),
    "api.list_bulk": Operation(
        "The latest bulk sends",
        {200: out.BulkList},
        query_params=(
            {
                "in": "query",
                "name": "limit",
                "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
            },
        ),
    ),
    "api.bulk_status": Operation("A bulk send's progress", {200: out.BulkReport}, refusals=(404,)),
    "api.pause_bulk": Operation("Pause a bulk send", {200: out.BulkReport}, refusals=(404, 409)),
    "api.resume_bulk": Operation(
        "Resume a paused bulk send", {200: out.BulkReport}, refusals=(404, 409)
    ),
    "api.cancel_bulk": Operation("Cancel a bulk send", {200: out.BulkReport}, refusals=(404, 409)),
    # operations
    "api.daily_metrics": Operation(
        "A day's figures (default today)", {200: out.DailyMetrics}, query=MetricsQuerySchema
    ),
    "api.list_webhooks": Operation("Every webhook", {200: out.WebhookList}),
    "api.create_webhook": Operation(
        "Add a webhook; its signing secret is shown once",
        {201: out.WebhookCreated},
        CreateWebhookSchema,
        refusals=(422,),
        links=_WEBHOOK_LINKS,
    ),
    "api.get_webhook": Operation("One webhook", {200: out.OneWebhook}, refusals=(404,)),
    "api.delete_webhook": Operation("Remove a webhook", {200: out.WebhookDeleted}, refusals=(404,)),
    "api.get_settings": Operation("Every operator setting", {200: out.Settings}),
    "api.patch_settings": Operation(
        "Change settings, all or nothing; null resets one",
        {200: out.Settings},
        None,  # the body is built from the settings' declarations, see _settings_body
        refusals=(422,),
    ),
    # the MPWA dialect
    "api_compat.send_message": Operation(
        "MPWA: send a text message to one or more numbers",
        {200: out.MpwaReply},
        out.MpwaSend,
        description="MPWA's `/send-message` as billing apps call it: GET or POST, the fields "
        "in the query string, a form or JSON (the body wins); `number` may join several "
        "recipients with `|` (one message each). MIKBILL's `nomor_pengirim`, `nomor_penerima` "
        "and `pesan` are taken too. Every refusal is a 400 `{status: false, msg, field}`.",
    ),
    "api_compat.send_media": Operation(
        "MPWA: send a file (image, video, audio, document) with a caption",
        {200: out.MpwaReply},
        out.MpwaMedia,
        description="Kabar sends images and documents; a video or an audio file is sent as a "
        "document, its file and name kept.",
    ),
    "api_compat.check_number": Operation(
        "MPWA: is a number on WhatsApp?",
        {200: out.MpwaChecked},
        out.MpwaCheck,
        description="Asked of `sender` (or any connected number) through its session host; "
        "refused when no connected number can ask.",
    ),
    "api_compat.info_devices": Operation(
        "MPWA: the linked numbers and their states (needs the read scope)",
        {200: out.MpwaDevices},
        out.MpwaDevicesQuery,
    ),
    # the Fonnte dialect
    "api_fonnte.send": Operation(
        "Fonnte: send a message (or a file by url) to one or more targets",
        {200: out.FonnteReply},
        out.FonnteSend,
        description="Fonnte's `/send`: the token in `Authorization` (or as `token`), "
        "`target` comma-separated with `number|name|var1` variables. Refusals are HTTP 200 "
        "`{status: false, reason}`, as Fonnte answers them.",
    ),
}

_COMMON_BEARER = (401, 403, 413, 429, 503)
# MPWA refuses everything with a 400, Fonnte with a 200 (its reply schema covers refusals).
_COMMON_DIALECT = {"mpwa": (400, 503), "fonnte": (503,)}
_DIALECTS = {"api_compat.": "mpwa", "api_fonnte.": "fonnte"}
_ERROR_SCHEMA = {"mpwa": "MpwaReply", "fonnte": "FonnteReply", None: "Error"}
_SECURITY = {"mpwa": "mpwaApiKey", "fonnte": "fonnteToken"}
_SUCCESS = {200: "OK", 201: "Created", 202: "Accepted: queued, sent later"}
_REASONS = {
    400: "Malformed request: the body or a field is not what the operation takes",
    401: "No API key, or a wrong or revoked one",
    403: "The key lacks the scope this operation needs",
    404: "No such resource",
    405: "Method not allowed",
    409: "The resource's state does not allow it now",
    413: "The body is over KABAR_MAX_BODY_MB; refused before it was read",
    422: "Well formed, but refused (unknown template, impossible number, ...)",
    429: "The key's request budget is spent; see Retry-After",
    503: "PostgreSQL or Redis is unreachable; nothing was saved, retry after Retry-After",
}


def required_scopes(app: Flask, endpoint: str) -> list[str]:
    """The API-key scope (send, read, admin) an operation needs, listed in its security
    requirement (OpenAPI 3.1 allows roles for any scheme): the table in ``scopes`` decides, as
    it does for the calls themselves."""
    return [scopes.required(endpoint)]


def _schema_name(schema: type[Schema] | Schema) -> str:
    """Request bodies end in Body (``TemplateSchema`` -> ``TemplateBody``), answers keep their
    name, a partial body is a Change (``TemplateChange``)."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    if name.endswith("Schema"):
        stem = name.removesuffix("Schema")
        return stem + ("Change" if getattr(schema, "partial", False) else "Body")
    return name


def _event_id(converter, field_obj, **_) -> dict:
    """The event id is text or a whole number (``schemas._EventId``), and so is a template
    reference (``schemas.TemplateReference``: a name or an id)."""
    if isinstance(field_obj, body._EventId):
        return {"type": ["string", "integer"], "description": "1 to 200 characters"}
    if isinstance(field_obj, body.TemplateReference):
        return {
            "type": ["string", "integer"],
            "description": "a template's name (1 to 100 characters) or its numeric id",
        }
    return {}


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s API routes."""
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="Kabar",
        version=_version(),
        openapi_version="3.1.0",
        plugins=[plugin],
        info={
            "description": "Kabar's JSON API (every call with `Authorization: Bearer <key>`) "
            "and the dialects billing apps speak: MPWA's (`/send-message`, `/send-media`, "
            "`/check-number`, `/info-devices`, with `api_key`) and Fonnte's (`/send`). "
            'Every JSON API refusal is `{"error": {"code", "field", "message"}}`.'
        },
    )
    plugin.converter.add_attribute_function(_event_id)
    for tag in TAGS:  # the order Swagger UI shows them in: what an integrator needs first
        spec.tag({"name": tag})
    spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A Kabar API key (`flask --app webapp create-api-key NAME`). "
            "An operation's security requirement lists the key scopes it needs "
            "(send, read, admin), where it needs one.",
        },
    )
    spec.components.security_scheme(
        "mpwaApiKey",
        {
            "type": "apiKey",
            "in": "query",
            "name": "api_key",
            "description": "The MPWA dialect: a Kabar API key as `api_key`, in the query "
            "string or the body (form or JSON).",
        },
    )
    spec.components.security_scheme(
        "fonnteToken",
        {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "The Fonnte dialect: a Kabar API key as the bare `Authorization` "
            "header (or as `token` in the query string or the body).",
        },
    )
    spec.components.schema("Error", schema=out.Error)
    spec.components.schema("MpwaReply", schema=out.MpwaReply)
    spec.components.schema("FonnteReply", schema=out.FonnteReply)
    spec.components.schema("SettingsChange", _settings_body())
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in OPERATIONS:
            _add_rule(spec, app, rule)
    return spec.to_dict()


def _add_rule(spec: APISpec, app: Flask, rule) -> None:
    endpoint = rule.endpoint
    operation = OPERATIONS[endpoint]
    dialect = _dialect(endpoint)
    methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
    parameters = [
        {"in": "path", "name": name, "required": True, "schema": _path_schema(name)}
        for name in rule.arguments
    ]
    operations = {}
    for method in methods:
        described = _operation(app, endpoint, operation, method, dialect)
        described["parameters"] = [*parameters, *described.get("parameters", [])]
        operations[method.lower()] = described
    spec.path(path=path, operations=operations)


def _dialect(endpoint: str) -> str | None:
    """The billing dialect an endpoint speaks ("mpwa", "fonnte"), or None for the JSON API."""
    return next((d for prefix, d in _DIALECTS.items() if endpoint.startswith(prefix)), None)


def _operation(app: Flask, endpoint: str, operation: Operation, method: str, dialect: str | None):
    name = endpoint.split(".", 1)[1]
    described: dict[str, Any] = {
        # The dialects' routes take GET and POST alike: one operation id per method.
        "operationId": f"{dialect}_{name}_{method.lower()}" if dialect else name,
        "summary": operation.summary,
        "tags": [_tag(endpoint)],
    }
    if operation.description:
        described["description"] = operation.description
    error = _ERROR_SCHEMA[dialect]
    if dialect:
        refusals = sorted({*_COMMON_DIALECT[dialect], *operation.refusals})
    else:
        refusals = sorted({*_COMMON_BEARER, *operation.refusals})
        # Every operation: a value PostgreSQL cannot store or compare (a NUL in the path) is
        # a 400.
        refusals = sorted({*refusals, 400})
    responses: dict[Any, Any] = {}
    for status, schema in operation.ok.items():
        responses[status] = {
            "description": _SUCCESS.get(status, "OK"),
            "content": {"application/json": {"schema": schema}},
        }
        if operation.links:
            responses[status]["links"] = operation.links
    for status in refusals:
        responses[status] = {
            "description": _REASONS[status],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{error}"}}},
        }
        if status in (429, 503):
            responses[status]["headers"] = {
                "Retry-After": {"description": "seconds", "schema": {"type": "string"}}
            }
    # gunicorn's own answer (not JSON) to a request line over its 4,094 bytes: a long
    # message sent by GET to /send-message meets it first.
    responses[414] = {"description": "URI too long: the request line is over 4,094 bytes"}
    described["responses"] = responses
    if dialect:
        described["security"] = [{_SECURITY[dialect]: []}, {}]
        described["parameters"] = _dialect_query(operation.body)
        if method == "POST" and operation.body is not None:
            described["requestBody"] = _dialect_body(operation.body)
        return described
    described["security"] = [{"bearerAuth": required_scopes(app, endpoint)}]
    if operation.query is not None:
        described["parameters"] = [{"in": "query", "schema": operation.query}]
    if operation.query_params:
        described["parameters"] = list(operation.query_params)
    if endpoint == "api.patch_settings":
        described["requestBody"] = _json_body({"$ref": "#/components/schemas/SettingsChange"})
    elif operation.body is not None:
        described["requestBody"] = _json_body(operation.body)
    return described


def _json_body(schema) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _dialect_query(schema) -> list[dict]:
    """A dialect's fields may all come in the query string (GET) as well as the body."""
    if schema is None:
        return []
    names = [f.data_key or n for n, f in schema().fields.items() if n not in ("api_key", "token")]
    return [{"in": "query", "name": n, "schema": {"type": "string"}} for n in names]


def _dialect_body(schema) -> dict:
    return {
        "content": {
            "application/json": {"schema": schema},
            "application/x-www-form-urlencoded": {"schema": schema},
        }
    }


def _path_schema(name: str) -> dict:
    if name in ("message_id", "template_id", "webhook_id"):
        return {"type": "integer"}
    return {"type": "string"}


def _tag(endpoint: str) -> str:
    if endpoint.startswith("api_compat."):
        return "MPWA dialect"
    if endpoint.startswith("api_fonnte."):
        return "Fonnte dialect"
    name = endpoint.split(".", 1)[1]
    for word, tag in (
        ("simulator", "Simulator"),
        ("session", "Sessions"),
        ("pair", "Sessions"),
        ("template", "Templates"),
        ("bulk", "Bulk sends"),
        ("event", "Billing events"),
        ("webhook", "Webhooks"),
        ("setting", "Settings"),
        ("metrics", "Metrics"),
    ):
        if word in name:
            return tag
    return "Messages"


TAGS = (
    "Messages",
    "Templates",
    "Billing events",
    "Bulk sends",
    "MPWA dialect",
    "Fonnte dialect",
    "Sessions",
    "Webhooks",
    "Settings",
    "Metrics",
    "Simulator",
)

_KINDS = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "str": {"type": "string"},
    "words": {"type": ["string", "array"], "items": {"type": "string"}},
    "ints": {"type": ["string", "array"], "items": {"type": "integer"}},
}


def _settings_body() -> dict:
    """PATCH /api/settings: any of the declared settings, each its kind or null (reset)."""
    properties = {}
    for name, spec in settings.SPECS.items():
        prop = dict(_KINDS.get(spec.kind, {"type": "string"}))
        if spec.kind == "choice":
            prop = {"enum": [*spec.choices, None]}
        else:
            prop["type"] = [
                *([prop["type"]] if isinstance(prop["type"], str) else prop["type"]),
                "null",
            ]
        if spec.minimum is not None and spec.kind in ("int", "float"):
            prop["minimum"] = spec.minimum
        if spec.maximum is not None and spec.kind in ("int", "float"):
            prop["maximum"] = spec.maximum
        properties[name] = prop
    return {"type": "object", "minProperties": 1, "properties": properties}


def _version() -> str:
    try:
        return version("kabar")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0"


@bp.get("/openapi.json")
def openapi_json():
    """The document; no key needed (it holds no secret, and integrators read it first)."""
    document = current_app.extensions.get("kabar.openapi")
    if document is None:
        document = current_app.extensions["kabar.openapi"] = build(current_app)
    return jsonify(document)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kabar API</title>
<link rel="stylesheet" href="{css}"></head>
<body><div id="swagger-ui"></div>
<script src="{bundle}"></script><script src="{init}"></script></body></html>
"""


@bp.get("/docs")
def docs():
    """Swagger UI on the document, from files this server ships (no internet needed)."""
    page = _PAGE.format(
        css=url_for("api_docs.static", filename="swagger-ui.css"),
        bundle=url_for("api_docs.static", filename="swagger-ui-bundle.js"),
        init=url_for("api_docs.docs_init"),
    )
    return Response(page, mimetype="text/html")


@bp.get("/docs/init.js")
def docs_init():
    url = json.dumps(url_for("api_docs.openapi_json"))
    script = (
        f"window.ui = SwaggerUIBundle({{url: {url}, dom_id: '#swagger-ui', deepLinking: true}});"  # noqa: E501
    )
    return Response(script, mimetype="text/javascript")
