"""Admin page "Template": the message templates, with a form that previews as one types.

The form speaks the API's shapes (``TemplateSchema``) through a few text fields: buttons one per
line, and list sections as lines where ``# Title`` starts a section and ``Row | description``
adds a row. The preview is ``POST /admin/templates/preview.json`` with the form's own fields
(CSRF token included) plus sample values named ``data.<variable>``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from webapp import phrases
from webapp.admin import bp, local_time, login_required
from webapp.admin.sessions_page import FormError, _attempt
from webapp.api.schemas import TemplateSchema
from webapp.api.templates import preview_json
from webapp.core.errors import KabarError, NotFound
from webapp.extensions import db
from webapp.intake import templates
from webapp.models import Trigger, WhatsAppTemplate

CATEGORY_LABELS = {
    "notification": lazy_gettext("Notification"),
    "reminder": lazy_gettext("Reminder"),
    "promotion": lazy_gettext("Promotion"),
}
TYPE_LABELS = {
    "text": lazy_gettext("Text"),
    "media": lazy_gettext("Image (media)"),
    "button": lazy_gettext("Buttons"),
    "list": lazy_gettext("List of choices"),
}
FILTER_HINTS = (
    ("{{amount|rupiah}}", "150000 → 150.000"),
    ("{{due_date|date}}", "2026-12-25 → 25 Desember 2026"),  # the filter writes Indonesian dates
    ("{{voucher_code|upper}}", "hs-7781 → HS-7781"),
)


# the form <-> the API's shapes -----------------------------------------------------------------


def form_body(form) -> dict[str, Any]:
    """The API body the form stands for (what ``TemplateSchema`` loads)."""
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "category": form.get("category") or "notification",
        "type": form.get("type") or "text",
        "language": form.get("language", "").strip() or "id",
        "content": form.get("content", "").replace("\r\n", "\n"),
        # An unticked checkbox is absent from the form: that is false, never "default true".
        "isActive": "is_active" in form,
    }
    if body["type"] == "media":
        body["mediaUrl"] = form.get("media_url", "").strip() or None
        body["mediaType"] = form.get("media_type") or "image"
        body["fileName"] = form.get("file_name", "").strip() or None
    if body["type"] == "button":
        body["buttons"] = _lines(form.get("buttons", ""))
    if body["type"] == "list":
        body["buttonText"] = form.get("button_text", "").strip() or None
        body["sections"] = parse_sections(form.get("sections", ""))
    if body["type"] in ("button", "list"):
        body["footer"] = form.get("footer", "").strip() or None
    return body


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_sections(text: str) -> list[dict[str, Any]]:
    """``# Title`` starts a section; ``Row | description`` adds a row to the current one."""
    sections: list[dict[str, Any]] = []
    for line in _lines(text):
        if line.startswith("#"):
            sections.append({"title": line.lstrip("#").strip(), "rows": []})
            continue
        if not sections:
            sections.append({"title": "", "rows": []})
        title, _bar, description = (part.strip() for part in line.partition("|"))
        sections[-1]["rows"].append({"title": title, "description": description or None})
    return sections


def sections_text(sections: list[dict[str, Any]] | None) -> str:
    lines = []
    for section in sections or []:
        if section.get("title") or len(sections) > 1:
            lines.append(f"# {section.get('title', '')}".rstrip())
        for row in section.get("rows", []):
            description = row.get("description")
            lines.append(row["title"] + (f" | {description}" if description else ""))
    return "\n".join(lines)


def form_values(template: WhatsAppTemplate | None) -> dict[str, Any]:
    """The form's fields filled from a stored template (or the defaults of a new one)."""
    if template is None:
        return {"category": "notification", "type": "text", "language": "id", "is_active": "1"}
    extra = template.extra or {}
    values = {
        "name": template.name,
        "category": template.category or "notification",
        "type": template.type,
        "language": template.language,
        "content": template.content,
        "media_url": extra.get("media_url", ""),
        "media_type": extra.get("media_type", "image"),
        "file_name": extra.get("file_name", ""),
        "buttons": "\n".join(b["text"] for b in extra.get("buttons", [])),
        "footer": extra.get("footer", ""),
        "button_text": extra.get("button_text", ""),
        "sections": sections_text(extra.get("sections")),
    }
    if template.is_active:
        values["is_active"] = "1"
    return values


# pages -----------------------------------------------------------------------------------------


@bp.get("/templates")
@login_required
def templates_page():
    used: dict[int, list[str]] = {}
    for template_id, event in db.session.execute(
        db.select(Trigger.template_id, Trigger.event).order_by(Trigger.event)
    ):
        used.setdefault(template_id, []).append(event)
    listed = templates.list_templates()
    return render_template(
        "admin/templates.html",
        templates=listed,
        used=used,
        warnings={t.id: templates.warnings_for(t.content, t.extra) for t in listed},
        built_in=templates.BUILT_IN,
        category_labels=CATEGORY_LABELS,
        type_labels=TYPE_LABELS,
        when=local_time.format_time,
    )


def _render_form(template: WhatsAppTemplate | None, error: FormError | None = None):
    values = request.form if error else form_values(template)
    return render_template(
        "admin/template_form.html",
        template=template,
        values=values,
        error=error,
        used=templates.triggers_using(template.id) if template else [],
        categories=templates.CATEGORIES,
        types=templates.TYPES,
        category_labels=CATEGORY_LABELS,
        type_labels=TYPE_LABELS,
        filter_hints=FILTER_HINTS,
        max_length=templates.MAX_LENGTH,
    ), (error.status if error else 200)


def _template_or_404(template_id: int) -> WhatsAppTemplate:
    try:
        return templates.get_template(template_id)
    except NotFound:
        abort(404)


@bp.get("/templates/new")
@login_required
def template_new():
    return _render_form(None)


@bp.post("/templates/new")
@login_required
def template_create():
    try:
        body = _attempt("form", lambda: TemplateSchema().load(form_body(request.form)))
        template = _attempt(
            "form", lambda: templates.create_template(created_by=g.admin.id, **body)
        )
    except FormError as error:
        db.session.rollback()
        return _render_form(None, error)
    flash(_("Template %(name)s created.", name=template.name))
    return _saved(template)


@bp.get("/templates/<int:template_id>")
@login_required
def template_edit(template_id: int):
    return _render_form(_template_or_404(template_id))


@bp.post("/templates/<int:template_id>")
@login_required
def template_update(template_id: int):
    template = _template_or_404(template_id)
    try:
        body = _attempt("form", lambda: TemplateSchema().load(form_body(request.form)))
        template = _attempt("form", lambda: templates.update_template(template_id, **body))
    except FormError as error:
        db.session.rollback()
        return _render_form(_template_or_404(template_id), error)
    flash(_("Template %(name)s saved.", name=template.name))
    return _saved(template)


def _saved(template: WhatsAppTemplate):
    """Back to the saved template's form, with what may keep its messages from arriving."""
    for warning in templates.warnings_for(template.content, template.extra):
        flash(
            _(
                "Warning (%(field)s): %(message)s",
                field=warning["field"],
                message=phrases.say(warning["message"]),
            ),
            "error",
        )
    return redirect(url_for("admin.template_edit", template_id=template.id))


@bp.post("/templates/<int:template_id>/delete")
@login_required
def template_delete(template_id: int):
    template = _template_or_404(template_id)
    name = template.name
    try:
        templates.delete_template(template_id)
    except KabarError as exc:
        flash(_("Cannot delete: %(reason)s", reason=phrases.say(exc.message)), "error")
        return redirect(url_for("admin.template_edit", template_id=template_id))
    flash(_("Template %(name)s deleted.", name=name))
    return redirect(url_for("admin.templates_page"))


@bp.post("/templates/preview.json")
def template_preview():
    """What the form shows beside itself: the message for the sample values, the variables,
    what is missing or unused, and warnings. Refusals of the form are reported, not raised."""
    if g.admin is None:
        return jsonify(error={"code": "unauthorized", "message": "log in first"}), 401
    body = form_body(request.form)
    data = {
        key[len("data.") :]: value
        for key, value in request.form.items()
        if key.startswith("data.") and value != ""
    }
    problem = None
    parts = {
        "media_url": body.get("mediaUrl"),
        "media_type": body.get("mediaType"),
        "file_name": body.get("fileName"),
        "buttons": body.get("buttons"),
        "footer": body.get("footer"),
        "button_text": body.get("buttonText"),
        "sections": body.get("sections"),
    }
    try:
        extra = templates.normalize_extra(body["type"], parts)
    except KabarError as exc:
        extra, problem = None, exc
    try:
        templates.check_content(body["content"], extra)
    except KabarError as exc:
        problem = problem or exc
    shown = preview_json(templates.preview(body["content"], data, body["type"], extra))
    if problem is not None:
        shown["error"] = {"field": problem.field, "message": phrases.say(problem.message)}
    shown["warnings"] = [{**w, "message": phrases.say(w["message"])} for w in shown["warnings"]]
    return jsonify(shown)
