"""Admin page "Pemicu": which billing event sends which template, and how each has fared.

Each mapping is a row of ``triggers``: event name, template (none: the event is a bulk send),
enabled, priority (1 highest .. 10, the priority of the messages it sends). The page also lists
the latest events received, with what they became or why they failed.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp import labels
from webapp.admin import bp, local_time, login_required
from webapp.admin.sessions_page import FormError, _attempt
from webapp.core.errors import KabarError
from webapp.intake import templates, triggers

STATUS_LABELS = labels.EVENT


def _form(form) -> dict[str, Any]:
    """A mapping as the form gives it; refused with the field at fault."""
    template = form.get("template_id", "")
    priority = form.get("priority", "").strip()
    if not priority.isdigit():
        raise KabarError(_("priority is a whole number from 1 (highest) to 10"), field="priority")
    return {
        "event": form.get("event", ""),
        "template_id": int(template) if template.isdigit() else None,
        "enabled": "enabled" in form,
        "priority": int(priority),
    }


def _render(error: FormError | None = None):
    return render_template(
        "admin/triggers.html",
        triggers=triggers.list_triggers(),
        templates=templates.list_templates(),
        events=triggers.recent_events(),
        built_in=triggers.BUILT_IN,
        status_labels=STATUS_LABELS,
        error=error,
        form=request.form if error else {},
        when=local_time.format_time,
    ), (error.status if error else 200)


@bp.get("/triggers")
@login_required
def triggers_page():
    return _render()


@bp.post("/triggers")
@login_required
def trigger_create():
    try:
        values = _attempt("new", lambda: _form(request.form))
        trigger = _attempt("new", lambda: triggers.create_trigger(**values))
    except FormError as error:
        return _render(error)
    flash(_("Trigger %(event)s added.", event=trigger.event))
    return redirect(url_for("admin.triggers_page"))


@bp.post("/triggers/<int:trigger_id>")
@login_required
def trigger_update(trigger_id: int):
    target = str(trigger_id)
    try:
        values = _attempt(target, lambda: _form(request.form))
        trigger = _attempt(target, lambda: triggers.update_trigger(trigger_id, **values))
    except FormError as error:
        return _render(error)
    flash(_("Trigger %(event)s saved.", event=trigger.event))
    return redirect(url_for("admin.triggers_page"))


@bp.post("/triggers/<int:trigger_id>/toggle")
@login_required
def trigger_toggle(trigger_id: int):
    try:
        trigger = _attempt(str(trigger_id), lambda: triggers.get_trigger(trigger_id))
        trigger = triggers.update_trigger(trigger_id, enabled=not trigger.enabled)
    except FormError as error:
        return _render(error)
    if trigger.enabled:
        flash(_("Trigger %(event)s turned on.", event=trigger.event))
    else:
        flash(_("Trigger %(event)s turned off.", event=trigger.event))
    return redirect(url_for("admin.triggers_page"))


@bp.post("/triggers/<int:trigger_id>/delete")
@login_required
def trigger_delete(trigger_id: int):
    try:
        trigger = _attempt(str(trigger_id), lambda: triggers.get_trigger(trigger_id))
        event = trigger.event
        triggers.delete_trigger(trigger_id)
    except FormError as error:
        return _render(error)
    flash(_("Trigger %(event)s deleted.", event=event))
    return redirect(url_for("admin.triggers_page"))
