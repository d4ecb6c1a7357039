"""Admin pages: dashboard with today's figures and charts, the message log with its timeline,
and the queue page. Views parse the query or form, call a service, render."""

from __future__ import annotations

import base64
import json
from datetime import date

import redis
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp import phrases
from webapp.admin import bp, local_time, login_required
from webapp.core import phone
from webapp.core.errors import KabarError
from webapp.extensions import db
from webapp.intake import bulk, messages, reports, templates
from webapp.models import WhatsAppMessage, row_id
from webapp.phrases import N_
from workers.pipeline import fold as folding
from workers.pipeline import sessions
from workers.queue import jobs
from workers.queue.contracts import MESSAGE_STATUSES, MessageStatus


@bp.app_template_filter("localtime")
def localtime(value, fmt: str = local_time.TIME_FORMAT) -> str:
    """A stored UTC time in the operator's timezone, with the zone's label (WIB, ...)."""
    return local_time.format_time(value, fmt)


@bp.app_template_filter("localday")
def localday(value) -> str:
    """A day as the date fields show it: dd-mm-yyyy."""
    return local_time.format_day(value)


def _day(*names: str) -> tuple[date | None, str | None]:
    """The day typed in the first of ``names`` the query has (later names: older links)."""
    name = next((n for n in names if request.args.get(n, "").strip()), names[0])
    raw = request.args.get(name, "").strip()
    if not raw:
        return None, None
    try:
        return local_time.parse_day(raw), None
    except ValueError:
        return None, _("%(field)s: '%(value)s' is not a date (dd-mm-yyyy)", field=name, value=raw)


def _number(raw: str) -> str | None:
    """A searched number as stored (0812... -> 62812...), or its digits if it is partial."""
    if not raw.strip():
        return None
    try:
        return phone.normalize(raw, current_app.config["DEFAULT_REGION"]).phone
    except KabarError:
        return "".join(ch for ch in raw if ch.isdigit()) or None


@bp.get("/overview")
@login_required
def overview():
    day, error = _day("date")
    day = day or reports.today()
    shown = reports.overview(day)
    peak = max([sum(v[h] for v in shown.hourly.values()) for h in range(24)] + [1])
    return render_template(
        "admin/overview.html",
        day=day,
        error=error,
        figures=shown.figures,
        hourly=shown.hourly,
        peak=peak,
        share=shown.share,
        sessions=sessions.list_sessions(),
    )


# A character PostgreSQL cannot store: refused with its field, never a 500.
NUL = "\x00"
NUL_REFUSED = N_("must not contain a NUL character")
# The send form's fields and the service's names for them (its errors name the latter).
SEND_FIELDS = {"to": "to", "text": "text", "template": "send_template", "data": "send_data",
               "sessionId": "sender", "media": "attachment"}  # fmt: skip


@bp.get("/messages")
@login_required
def messages_page():
    return _messages_page()


def _messages_page(send_error: KabarError | None = None):
    """The log with its filters (``since``/``until``; ``from``/``to`` of older links still
    work) and the send form, filled with what was typed when ``send_error`` refused it."""
    errors = []
    day_from, e1 = _day("since", "from")
    day_to, e2 = _day("until", "to")
    errors += [e for e in (e1, e2) if e]
    status = request.args.get("status") or None
    if status and status not in MESSAGE_STATUSES:
        errors.append(_("status: '%(value)s' is unknown", value=status))
        status = None
    bulk_job = None
    if (job_id := request.args.get("bulk", "").strip()) and NUL in job_id:
        errors.append(_("bulk: %(reason)s", reason=_(NUL_REFUSED)))
    elif job_id:
        try:
            bulk_job = bulk.get_job(job_id)
        except KabarError:
            errors.append(_("bulk: no bulk send %(job)s", job=job_id))
    template_id = row_id(request.args.get("template", ""))
    session_id = request.args.get("session") or None
    if session_id and NUL in session_id:
        errors.append(_("session: %(reason)s", reason=_(NUL_REFUSED)))
        session_id = None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    before, after = row_id(request.args.get("before", "")), row_id(request.args.get("after", ""))
    flt = reports.MessageFilter(
        status=status,
        session_id=session_id,
        number=_number(request.args.get("number", "")),
        template_id=template_id,
        day_from=day_from,
        day_to=day_to,
        bulk_id=bulk_job.id if bulk_job else None,
    )
    found = reports.search_messages(flt, page, before=before, after=after)
    send_errors = {}
    if send_error is not None:
        field = SEND_FIELDS.get((send_error.field or "").split(".")[0], "text")
        send_errors[field] = phrases.say(send_error.message)
    active = [t for t in templates.list_templates() if t.is_active]
    return render_template(
        "admin/messages.html",
        found=found,
        # The pages' links carry the neighbouring id (``before``/``after``) and the page number.
        link_args={k: v for k, v in request.args.items() if k not in ("before", "after", "page")},
        errors=errors,
        statuses=MESSAGE_STATUSES,
        sessions=sessions.list_sessions(),
        templates=reports.template_names(),
        send_templates=active,
        variables={t.name: t.variables or [] for t in active},
        args=request.args,
        day_from=day_from,
        day_to=day_to,
        bulk_job=bulk_job,
        sent=request.form if send_error else {},
        send_errors=send_errors,
    ), (send_error.status if send_error else 400 if errors else 200)


@bp.post("/messages/send")
@login_required
def message_send():
    """Send one message from the page, as the API's single send does (urgent): a text, or a
    template with its data (a JSON object), from the chosen number or by routing; with an
    attached image or document, the text is its caption."""
    form = request.form
    template = form.get("send_template", "").strip() or None
    try:
        for name, form_name in SEND_FIELDS.items():  # PostgreSQL stores no NUL character
            if NUL in form.get(form_name, ""):
                raise KabarError(NUL_REFUSED, field=name)
        data = _send_data(form.get("send_data", "")) if template else None
        accepted = messages.queue_message(
            form.get("to", ""),
            template=template,
            data=data,
            text=None if template else form.get("text", ""),
            session_id=form.get("sender", "").strip() or None,
            media=_attachment(request.files.get("attachment")),
        )
    except KabarError as exc:
        return _messages_page(send_error=exc)
    flash(_("Message #%(id)s queued.", id=accepted.message.id))
    return redirect(url_for("admin.message_detail", message_id=accepted.message.id))


def _attachment(upload) -> dict | None:
    """The uploaded file as the send's media: an image when the browser says it is one (the
    bytes are checked all the same), else a document under its own name."""
    if upload is None or not upload.filename:
        return None
    kind = "image" if (upload.mimetype or "").startswith("image/") else "document"
    media = {"type": kind, "base64": base64.b64encode(upload.read()).decode()}
    if kind == "document":
        media["fileName"] = upload.filename[:255]
        if upload.mimetype and upload.mimetype != "application/octet-stream":
            media["mimetype"] = upload.mimetype
    return media


def _send_data(raw: str) -> dict:
    """The template's data as typed in the JSON box; empty is no data."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise KabarError(_("not valid JSON: %(reason)s", reason=exc), field="data") from exc
    if not isinstance(data, dict):
        raise KabarError(_('a JSON object, e.g. {"name": "Budi"}'), field="data")
    return data


def _message_or_404(message_id: int) -> WhatsAppMessage:
    message = db.session.get(WhatsAppMessage, message_id)
    if message is None:
        abort(404)
    return message


@bp.get("/messages/<int:message_id>")
@login_required
def message_detail(message_id: int):
    message = _message_or_404(message_id)
    timeline = [
        (MessageStatus.QUEUED, message.created_at),
        (MessageStatus.SENT, message.sent_at),
        (MessageStatus.DELIVERED, message.delivered_at),
        (MessageStatus.READ, message.read_at),
    ]
    return render_template(
        "admin/message_detail.html",
        m=message,
        timeline=timeline,
        template_name=reports.template_names().get(message.template_id),
    )


@bp.post("/messages/<int:message_id>/resend")
@login_required
def message_resend(message_id: int):
    return _act(message_id, jobs.resend, _("Message queued again."))


@bp.post("/messages/<int:message_id>/cancel")
@login_required
def message_cancel(message_id: int):
    return _act(message_id, jobs.cancel, _("Message cancelled."))


def _act(message_id: int, action, done: str):
    message = _message_or_404(message_id)
    try:
        action(message)
        flash(done)
    except KabarError as exc:
        flash(phrases.say(exc.message), "error")
    return redirect(
        request.form.get("next") or url_for("admin.message_detail", message_id=message_id)
    )


@bp.get("/queue")
@login_required
def queue_page():
    return render_template(
        "admin/queue.html",
        queues=reports.queues(),
        pace=reports.session_pace(),
        failed=reports.failed_messages(),
        dead=folding.dead_letters(),
    )


@bp.post("/queue/dead-letters/replay")
@login_required
def dead_letters_replay():
    """Send one dead letter (form field ``id``) or all of them back to be folded."""
    entry_id = request.form.get("id", "").strip()
    try:
        count = folding.replay_dead([entry_id] if entry_id else None)
    except redis.RedisError:
        flash(_("Redis is unreachable"), "error")
    else:
        flash(
            ngettext(
                "%(num)d event sent back to be folded.",
                "%(num)d events sent back to be folded.",
                count,
            )
        )
    return redirect(url_for("admin.queue_page") + "#dead-letters")
