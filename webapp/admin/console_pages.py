"""Admin pages: dashboard with today's figures and charts, the message log with its timeline,
and the queue page. Views parse the query or form, call a service, render."""

from __future__ import annotations

from datetime import date

import redis
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp import phrases
from webapp.admin import bp, login_required
from webapp.extensions import db
from webapp.models import MESSAGE_STATUSES, WhatsAppMessage, as_utc
from webapp.services import jobs, messages, phone, reports, sessions
from webapp.services import session_events as folding
from webapp.services.errors import KabarError


@bp.app_template_filter("localtime")
def localtime(value, fmt: str = "%d-%m-%Y %H:%M:%S") -> str:
    """A stored UTC time in the operator's timezone."""
    if value is None:
        return "—"
    return as_utc(value).astimezone(reports.zone()).strftime(fmt)


def _day(name: str) -> tuple[date | None, str | None]:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None, None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return None, _("%(field)s: '%(value)s' is not a date (YYYY-MM-DD)", field=name, value=raw)


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
    hourly = reports.hourly(day)
    peak = max([sum(v[h] for v in hourly.values()) for h in range(24)] + [1])
    return render_template(
        "admin/overview.html",
        day=day,
        error=error,
        figures=reports.day_figures(day),
        hourly=hourly,
        peak=peak,
        share=reports.share_by_session(day),
        sessions=sessions.list_sessions(),
    )


@bp.get("/messages")
@login_required
def messages_page():
    errors = []
    day_from, e1 = _day("from")
    day_to, e2 = _day("to")
    errors += [e for e in (e1, e2) if e]
    status = request.args.get("status") or None
    if status and status not in (*MESSAGE_STATUSES, "cancelled", "paused", "skipped"):
        errors.append(_("status: '%(value)s' is unknown", value=status))
        status = None
    template_id = request.args.get("template", type=int)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    flt = reports.MessageFilter(
        status=status,
        session_id=request.args.get("session") or None,
        number=_number(request.args.get("number", "")),
        template_id=template_id,
        day_from=day_from,
        day_to=day_to,
    )
    rows, total = reports.search_messages(flt, page)
    pages = max((total + reports.PAGE_SIZE - 1) // reports.PAGE_SIZE, 1)
    return render_template(
        "admin/messages.html",
        rows=rows,
        total=total,
        page=min(page, pages),
        pages=pages,
        errors=errors,
        statuses=(*MESSAGE_STATUSES, "cancelled", "paused", "skipped"),
        sessions=sessions.list_sessions(),
        templates=reports.template_names(),
        args=request.args,
    ), (400 if errors else 200)


@bp.post("/messages/send")
@login_required
def message_send():
    """Send one text from the page, as the API's single send does (urgent)."""
    to, text = request.form.get("to", ""), request.form.get("text", "")
    try:
        accepted = messages.queue_message(to, text=text)
    except KabarError as exc:
        field = exc.field or _("form")
        flash(f"{field}: {phrases.say(exc.message)}", "error")
        return redirect(url_for("admin.messages_page", to=to))
    flash(_("Message #%(id)s queued.", id=accepted.message.id))
    return redirect(url_for("admin.message_detail", message_id=accepted.message.id))


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
        ("queued", message.created_at),
        ("sent", message.sent_at),
        ("delivered", message.delivered_at),
        ("read", message.read_at),
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
    return redirect(request.form.get("next") or url_for("admin.message_detail",
                                                        message_id=message_id))


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
