"""/api/whatsapp/templates: the catalogue of message templates, and previews."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from webapp.api import bp
from webapp.api.schemas import PreviewSchema, TemplateSchema, load_json
from webapp.config import parse_bool
from webapp.extensions import db
from webapp.intake import templates
from webapp.models import Trigger, WhatsAppTemplate, iso


def template_json(template: WhatsAppTemplate, events: list[str] | None = None) -> dict[str, Any]:
    extra = template.extra or {}
    body: dict[str, Any] = {
        "id": template.id,
        "name": template.name,
        "category": template.category,
        "type": template.type,
        "content": template.content,
        "variables": template.variables or [],
        "language": template.language,
        "isActive": template.is_active,
        "builtIn": template.name in templates.BUILT_IN,
    }
    if template.type == "media":
        body["mediaUrl"] = extra.get("media_url")
        body["mediaType"] = extra.get("media_type", "image")
        body["fileName"] = extra.get("file_name")
    if template.type == "button":
        body["buttons"] = extra.get("buttons", [])
    if template.type == "list":
        body["buttonText"] = extra.get("button_text")
        body["sections"] = extra.get("sections", [])
    if template.type in ("button", "list"):
        body["footer"] = extra.get("footer")
    body["triggers"] = events if events is not None else templates.triggers_using(template.id)
    body["warnings"] = templates.warnings_for(template.content, template.extra)
    body["createdAt"] = iso(template.created_at)
    body["updatedAt"] = iso(template.updated_at)
    return body


@bp.get("/whatsapp/templates")
def list_templates():
    """Every template; ``?category=``, ``?type=`` and ``?active=true|false`` narrow the list."""
    listed = templates.list_templates()
    for name in ("category", "type"):
        if wanted := request.args.get(name):
            listed = [t for t in listed if getattr(t, name) == wanted]
    if (active := request.args.get("active")) is not None:
        listed = [t for t in listed if t.is_active == parse_bool(active)]
    events: dict[int, list[str]] = {}
    for template_id, event in db.session.execute(
        db.select(Trigger.template_id, Trigger.event).order_by(Trigger.event)
    ):
        events.setdefault(template_id, []).append(event)
    return jsonify(templates=[template_json(t, events.get(t.id, [])) for t in listed])


@bp.post("/whatsapp/templates")
def create_template():
    body = load_json(TemplateSchema())
    template = templates.create_template(**body)
    shown = template_json(template)
    return jsonify(template=shown, warnings=shown["warnings"]), 201


@bp.get("/whatsapp/templates/<template_id>")
def get_template(template_id: str):
    return jsonify(template=template_json(templates.get_template(template_id)))


@bp.put("/whatsapp/templates/<template_id>")
def update_template(template_id: str):
    body = load_json(TemplateSchema(partial=True))
    template = templates.update_template(template_id, **body)
    shown = template_json(template)
    return jsonify(template=shown, warnings=shown["warnings"])


@bp.delete("/whatsapp/templates/<template_id>")
def delete_template(template_id: str):
    template = templates.get_template(template_id)
    name = template.name
    templates.delete_template(template.id)
    return jsonify(id=template.id, name=name, deleted=True)


@bp.post("/whatsapp/templates/preview")
def preview_template():
    """The template rendered with ``data``; missing variables keep their {{placeholder}}."""
    body = load_json(PreviewSchema())
    template = templates.find_template(body.get("template_id"), body.get("name"))
    return jsonify(
        template=template.name,
        **preview_json(
            templates.preview(template.content, body["data"], template.type, template.extra)
        ),
    )


def preview_json(preview: templates.Preview) -> dict[str, Any]:
    rendered = preview.rendered
    return {
        "message": rendered.text,
        "length": len(rendered.text),
        "maxLength": templates.MAX_LENGTH,
        "mediaUrl": rendered.media_url,
        "mediaType": rendered.media.type if rendered.media else None,
        "fileName": rendered.media.file_name if rendered.media else None,
        "renderMode": rendered.render_mode,
        "variables": preview.variables,
        "missing": preview.missing,
        "unused": preview.unused,
        "invalid": preview.invalid,
        "warnings": preview.warnings,
    }
