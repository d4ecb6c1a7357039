"""Admin page "Pengaturan": the operator settings of ``webapp.settings``, applied
without a restart.

The page is one form in sections: whichever section's button is pressed, every edit on the
page is saved together, and nothing typed is lost. A refusal draws the page again with every
value as typed and the reason at its field; a save comes back at the section whose button was
pressed, with "saved" in each section that changed and on each field it changed.

Each field says whether it holds a saved value or the environment's default, and can go back to
the default. A secret (the SMTP password) is never put in the page: the field stays empty, shows
whether one is set, and saving it empty keeps the stored one, unless the SMTP server or login
changed in the same save: then the stored password is cleared and must be entered again, so it
is never sent to another server. The e-mail section's test button sends a test e-mail through
the SMTP settings as saved and draws the page again with the fields as typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from webapp import settings
from webapp.admin import bp, login_required
from webapp.admin.sessions_page import FormError, _attempt
from workers.pipeline import fallback, sessions


@dataclass(frozen=True)
class Field:
    """A setting's row; label and help are translated when the page is drawn (lazy strings)."""

    name: str
    label: Any
    help: Any = ""


@dataclass(frozen=True)
class Group:
    key: str
    title: Any
    fields: tuple[Field, ...]
    note: Any = ""


GROUPS = (
    Group("sending", lazy_gettext("Sending"), (
        Field("default_interval_ms", lazy_gettext("Interval between sends (ms)"),
              lazy_gettext("for new sessions")),
        Field("default_jitter_ms", "Jitter (ms)", lazy_gettext("a random 0..jitter is added")),
        Field("routing_default", lazy_gettext("Routing of normal and urgent messages"),
              lazy_gettext("failover: the primary number first; spread: shared evenly")),
        Field("routing_bulk", lazy_gettext("Routing of bulk sends")),
    ), note=lazy_gettext("Interval and jitter apply to sessions created afterwards; change an "
                         "existing session on the Sessions page.")),
    Group("sessions", lazy_gettext("Sessions"), (
        Field("reconnect_backoff_base_s", lazy_gettext("First reconnect wait (s)"),
              lazy_gettext("doubles per failure")),
        Field("reconnect_backoff_cap_s", lazy_gettext("Longest reconnect wait (s)")),
        Field("error_backoff_base_ms", lazy_gettext("Pause after a send error (ms)"),
              lazy_gettext("doubles per error in a row")),
        Field("error_backoff_cap_ms", lazy_gettext("Longest error pause (ms)")),
    ), note=lazy_gettext("The reconnect back-off applies at the session's next start by a "
                         "session host (e.g. after the session host restarts).")),
    Group("deliverability", lazy_gettext("Deliverability"), (
        Field("warmup_schedule", lazy_gettext("Warm-up (sends per day)"),
              lazy_gettext("day 1, 2, … comma-separated")),
        Field("typing_ms", lazy_gettext("Typing indicator (ms)"), lazy_gettext("0 = off")),
        Field("check_on_whatsapp", lazy_gettext("Check numbers on WhatsApp before a bulk send")),
        Field("on_whatsapp_cache_days", lazy_gettext("Keep check results (days)")),
    )),
    Group("reserve", lazy_gettext("Transactional first"), (
        Field("bulk_reserve_percent", lazy_gettext("Kept from bulk sends (%)"),
              lazy_gettext("of each number's daily cap or warm-up allowance, for invoices and "
                           "other single messages")),
    )),
    Group("quiet", lazy_gettext("Quiet hours"), (
        Field("quiet_hours", lazy_gettext("Quiet hours"),
              lazy_gettext("e.g. 21:00-07:00; empty = off")),
        Field("quiet_categories", lazy_gettext("Categories that wait"),
              "notification, reminder, promotion"),
    )),
    Group("optout", lazy_gettext("Opt-out keywords"), (
        Field("opt_out_keywords", lazy_gettext("Stop words"),
              lazy_gettext("comma-separated; a reply that is exactly one of them opts out")),
    )),
    Group("webhooks", lazy_gettext("Webhooks"), (
        Field("webhook_allow_private", lazy_gettext("Allow loopback and LAN addresses"),
              lazy_gettext("off by default; turn on for a billing app on this server or LAN. "
                           "Cloud metadata addresses such as 169.254.169.254 are never allowed")),
    )),
    Group("media", lazy_gettext("Images and documents"), (
        Field("media_allow_private", lazy_gettext("Fetch from loopback and LAN addresses"),
              lazy_gettext("off by default; turn on when a billing app on this server or LAN "
                           "serves the invoice PDFs or QRIS images. Cloud metadata addresses "
                           "such as 169.254.169.254 are never allowed")),
        Field("media_max_mb", lazy_gettext("Largest file (MB)"),
              lazy_gettext("an image or document bigger than this is not sent")),
    )),
    Group("retention", lazy_gettext("Retention"), (
        Field("retention_messages_days", lazy_gettext("Messages (days)"),
              lazy_gettext("0 = keep for ever")),
        Field("retention_jobs_days", lazy_gettext("Finished queue jobs (days)")),
        Field("retention_sessions_days", lazy_gettext("Disconnected sessions (days)")),
    )),
    Group("email", lazy_gettext("E-mail fallback"), (
        Field("email_fallback_enabled", lazy_gettext("Enabled"),
              lazy_gettext("messages that fail on WhatsApp go by e-mail")),
        Field("smtp_host", lazy_gettext("SMTP host")),
        Field("smtp_port", lazy_gettext("SMTP port"), lazy_gettext("465 = implicit TLS")),
        Field("smtp_user", lazy_gettext("User"), lazy_gettext("empty = no login")),
        Field("smtp_password", lazy_gettext("Password"), lazy_gettext("leave empty to keep")),
        Field("smtp_starttls", "STARTTLS"),
        Field("smtp_from", lazy_gettext("From"),
              lazy_gettext("e.g. %(address)s", address="Kabar ISP <noreply@isp.example>")),
        Field("email_language", lazy_gettext("Language of the e-mail"),
              lazy_gettext("id = Indonesian, en = English")),
    )),
)  # fmt: skip
GROUPS_BY_KEY = {group.key: group for group in GROUPS}


FIELD_GROUPS = {field.name: group.key for group in GROUPS for field in group.fields}
RESULT_KEY = "settings_result"  # what the last save changed, shown in its sections once


@bp.get("/settings")
@login_required
def settings_page():
    return _render(result=session.pop(RESULT_KEY, None))


@bp.post("/settings")
@login_required
def settings_save():
    """Save every field of the page's one form (``shown`` lists them; a post without it saves
    the fields of ``group``). ``group`` is the section whose button was pressed: the page
    comes back there, with the result in every section that changed."""
    group = GROUPS_BY_KEY.get(request.form.get("group", ""))
    names = request.form.getlist("shown")
    if not names:
        if group is None:
            flash(_("Unknown settings group."), "error")
            return redirect(url_for("admin.settings_page"))
        names = [field.name for field in group.fields]
    changes = settings.edits(_submitted([n for n in names if n in settings.SPECS]))
    try:
        saved = _attempt("settings", lambda: settings.save(changes))
        _attempt("settings", lambda: sessions.settings_changed(saved))
    except FormError as error:
        return _render(error=error, typed=True)
    anchor = group.key if group else (FIELD_GROUPS.get(next(iter(changes), ""), "") or None)
    session[RESULT_KEY] = {
        "group": anchor,
        "changed": sorted(changes),
        "password_cleared": settings.password_cleared(saved),
    }
    return redirect(url_for("admin.settings_page", _anchor=anchor))


@bp.post("/settings/test-email")
@login_required
def settings_test_email():
    """Send a test e-mail through the saved SMTP settings; the page comes back with every
    field as typed (nothing is saved, nothing lost) and the result next to the button."""
    to = request.form.get("to", "").strip()
    try:
        _attempt("test_email", lambda: fallback.send_test(to))
    except FormError as error:
        if error.fields:  # a malformed address: shown at the field, as typed
            return _render(error=error, typed=True)
        failed = _("Test e-mail failed: %(reason)s", reason=error.message)
        return _render(typed=True, test_result=(False, failed))
    return _render(
        typed=True, test_result=(True, _("Test e-mail sent to %(address)s.", address=to))
    )


def _submitted(names: list[str]) -> dict[str, Any]:
    """The named fields as the form gives them; a ticked "reset" is None (the default)."""
    resets = set(request.form.getlist("reset"))
    submitted: dict[str, Any] = {}
    for name in names:
        if name in resets:
            submitted[name] = None
        elif settings.SPECS[name].kind == "bool":  # an unticked box is not sent at all
            submitted[name] = name in request.form
        elif settings.SPECS[name].secret and not request.form.get(name):
            continue  # never shown, so left empty: keep the stored one, and report no change
        elif name in request.form:  # a field the form did not send keeps its value
            submitted[name] = request.form[name]
    return submitted


def _render(
    error: FormError | None = None,
    typed: bool = False,
    result: dict[str, Any] | None = None,
    test_result: tuple[bool, str] | None = None,
):
    """The page; after a post (``typed``) every field shows what was typed, not what is saved."""
    shown = set(request.form.getlist("shown")) if typed else set()
    if typed and not shown and (group := GROUPS_BY_KEY.get(request.form.get("group", ""))):
        shown = {field.name for field in group.fields}
    fields = error.fields if error else {}
    rows = {
        group.key: [_row(field, field.name in shown, fields) for field in group.fields]
        for group in GROUPS
    }
    refused = {FIELD_GROUPS[name] for name in fields if name in FIELD_GROUPS}
    if error is not None and error.target == "settings" and not refused:
        refused = {request.form.get("group", "") or GROUPS[0].key}
    changed = set(result["changed"]) if result else set()
    return render_template(
        "admin/settings.html",
        groups=GROUPS,
        rows=rows,
        error=error,
        refused=refused,
        result=result,
        changed={FIELD_GROUPS[n] for n in changed if n in FIELD_GROUPS},
        changed_fields=changed,
        test_result=test_result,
        form=request.form if typed else {},
    ), (error.status if error else 200)


def _row(field: Field, typed: bool, errors: dict[str, list[str]]) -> dict[str, Any]:
    """One field as the template draws it: what was typed after a post, else the value in
    effect (never a secret's)."""
    spec = settings.SPECS[field.name]
    value_shown = settings.shown(field.name)
    if spec.secret:
        value: Any = ""
    elif not typed:
        value = _text(value_shown, spec.kind)
    elif spec.kind == "bool":
        value = field.name in request.form
    else:
        value = request.form.get(field.name, "")
    return {
        "field": field,
        "spec": spec,
        "value": value,
        "is_set": value_shown["set"] if spec.secret else None,
        "saved": settings.is_saved(field.name),
        "reset": typed and field.name in request.form.getlist("reset"),
        "errors": errors.get(field.name, []),
    }


def _text(value: Any, kind: str) -> Any:
    """A value as its input shows it: lists comma-separated, 2.0 as 2, booleans as they are."""
    if kind in ("words", "ints"):
        return ", ".join(str(item) for item in value)
    if kind == "float":
        return f"{value:g}"
    return value
