"""The catalogue: templates stored, looked up by name or id, changed and deleted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError

from webapp.core.errors import Conflict, NotFound, TemplateInvalid, TemplateNotFound
from webapp.extensions import db
from webapp.intake.templates.validation import check_content, normalize_extra
from webapp.models import BulkJob, Trigger, WhatsAppMessage, WhatsAppTemplate, row_id
from workers.queue.contracts import TEMPLATE_CATEGORIES as CATEGORIES
from workers.queue.contracts import BulkStatus

# Created by migration 0002; editable like any other template.
BUILT_IN = (
    "new_invoice",
    "payment_reminder",
    "payment_confirmation",
    "expiry_warning",
    "voucher_activated",
)
NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{2})?$")


def get_by_name(name: str) -> WhatsAppTemplate:
    template = db.session.scalar(db.select(WhatsAppTemplate).where(WhatsAppTemplate.name == name))
    if template is None or not template.is_active:
        raise TemplateNotFound(f"no active template named {name!r}", field="template")
    return template


def list_templates() -> list[WhatsAppTemplate]:
    return list(db.session.scalars(db.select(WhatsAppTemplate).order_by(WhatsAppTemplate.name)))


def get_template(template_id: int | str) -> WhatsAppTemplate:
    number = row_id(template_id)
    template = db.session.get(WhatsAppTemplate, number) if number is not None else None
    if template is None:
        raise NotFound(f"no template with id {template_id}", field="id")
    return template


def lookup(reference: Any) -> WhatsAppTemplate | None:
    """The template a request names by its name or by its id ("payment_reminder", 3 or "3");
    a name wins over an id written the same way. None when there is none."""
    if isinstance(reference, str):
        reference = reference.strip()
        template = db.session.scalar(
            db.select(WhatsAppTemplate).where(WhatsAppTemplate.name == reference)
        )
        if template is not None:
            return template
    number = row_id(reference)
    return db.session.get(WhatsAppTemplate, number) if number is not None else None


def find_template(template_id: Any = None, name: str | None = None) -> WhatsAppTemplate:
    """A template by ``templateId`` (its id or its name) or by ``name``, active or not
    (previews and the admin look at drafts)."""
    reference, field = (template_id, "templateId") if template_id is not None else (name, "name")
    template = lookup(reference)
    if template is None:
        raise NotFound(_not_found("no template", reference), field=field)
    return template


def find_active(reference: Any, field: str = "template") -> WhatsAppTemplate:
    """The active template named by its name or id, to send; TemplateNotFound otherwise."""
    template = lookup(reference)
    if template is None or not template.is_active:
        raise TemplateNotFound(_not_found("no active template", reference), field=field)
    return template


def _not_found(what: str, reference: Any) -> str:
    """ "no template named 'x'" for a name, "no template with id 7" for a number."""
    if isinstance(reference, str):
        return f"{what} named {reference!r}"
    return f"{what} with id {reference}"


def triggers_using(template_id: int) -> list[str]:
    """The events whose trigger sends this template."""
    return list(
        db.session.scalars(
            db.select(Trigger.event)
            .where(Trigger.template_id == template_id)
            .order_by(Trigger.event)
        )
    )


FIELDS = ("name", "content", "category", "type", "language", "is_active")
EXTRA_PARTS = (
    "media_url",
    "media_type",
    "file_name",
    "buttons",
    "footer",
    "button_text",
    "sections",
)


def create_template(
    *,
    name: str,
    content: str,
    category: str = "notification",
    type: str = "text",  # noqa: A002 - the seed's field name
    language: str = "id",
    is_active: bool = True,
    created_by: int | None = None,
    **parts: Any,
) -> WhatsAppTemplate:
    """Store a new template; ``parts`` are the type's extras (see ``normalize_extra``)."""
    template = WhatsAppTemplate(created_by=created_by)
    _apply(
        template,
        {
            "name": name,
            "content": content,
            "category": category,
            "type": type,
            "language": language,
            "is_active": is_active,
            **parts,
        },
    )
    db.session.add(template)
    _commit(name)
    return template


def update_template(template_id: int | str, **changes: Any) -> WhatsAppTemplate:
    """Change the given fields of a template; what is not given stays as it is."""
    template = get_template(template_id)
    _apply(template, changes)
    _commit(template.name)
    return template


def _apply(template: WhatsAppTemplate, changes: Mapping[str, Any]) -> None:
    unknown = sorted(set(changes) - {*EXTRA_PARTS, *FIELDS})
    if unknown:
        raise TemplateInvalid(f"unknown field {unknown[0]}", field=unknown[0])
    name = changes.get("name", template.name)
    if name is None or not NAME.match(name):
        raise TemplateInvalid(
            "name is 1-100 letters, digits, '_', '.' or '-' (e.g. new_invoice)", field="name"
        )
    category = changes.get("category", template.category) or "notification"
    if category not in CATEGORIES:
        raise TemplateInvalid(f"category must be one of {', '.join(CATEGORIES)}", field="category")
    language = changes.get("language", template.language) or "id"
    if not LANGUAGE.match(language):
        raise TemplateInvalid("language is a code such as id or en", field="language")
    type_ = changes.get("type", template.type) or "text"
    parts = {**(_parts_of(template.extra)), **{k: changes[k] for k in EXTRA_PARTS if k in changes}}
    extra = normalize_extra(type_, parts)
    content = changes.get("content", template.content)
    variables = check_content(content or "", extra)
    is_active = changes.get("is_active", template.is_active)
    template.name = name
    template.category = category
    template.type = type_
    template.language = language
    template.content = content
    template.extra = extra
    template.variables = variables
    # The seed wrote `data.is_active || true`; an explicit false stays false here.
    template.is_active = True if is_active is None else bool(is_active)


def _parts_of(extra: Mapping | None) -> dict[str, Any]:
    return {key: value for key, value in (extra or {}).items() if key in EXTRA_PARTS}


def _commit(name: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:  # the only unique column is the name
        db.session.rollback()
        raise Conflict(f"a template named {name!r} exists already", field="name") from None


def delete_template(template_id: int | str) -> None:
    """Delete a template no trigger and no unfinished bulk send uses (409 otherwise).

    Messages sent with it keep their text; they merely stop pointing at it.
    """
    template = get_template(template_id)
    events = triggers_using(template.id)
    if events:
        raise Conflict(
            f"template {template.name!r} is used by the trigger(s) {', '.join(events)}; "
            "point them to another template first",
            field="id",
        )
    busy = db.session.scalar(
        db.select(BulkJob.job_id).where(
            BulkJob.template_id == template.id,
            BulkJob.status.not_in((BulkStatus.COMPLETED, BulkStatus.CANCELLED)),
        )
    )
    if busy:
        raise Conflict(
            f"template {template.name!r} is used by bulk send {busy}, which has not finished",
            field="id",
        )
    for model in (WhatsAppMessage, BulkJob):
        db.session.execute(
            db.update(model).where(model.template_id == template.id).values(template_id=None)
        )
    db.session.delete(template)
    db.session.commit()
