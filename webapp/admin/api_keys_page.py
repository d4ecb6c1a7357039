"""Admin page "Kunci API": every API key with when and how it was last used, so an operator sees
which integrations call the JSON API (Bearer header) and which the MPWA-compatible
/send-message (api_key in the URL). Keys are made here (the raw key is shown once, on the answer
to the form) or with ``flask create-api-key``, and revoked here; the list never shows more than
a key's prefix.

Each key shows its scopes (send / read / admin). A key with admin that was ever given as MPWA's
api_key is flagged: it sits in a billing app's URL, where proxy logs and browser history keep
it, and one click takes admin away while the billing app keeps sending with the same key.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from webapp import phrases
from webapp.admin import bp, local_time, login_required
from webapp.core.errors import KabarError
from webapp.extensions import db
from webapp.intake import api_keys
from webapp.models import ApiKey

SCOPE_LABELS = {
    "send": lazy_gettext("send: send messages, bulk sends, billing events, their status"),
    "read": lazy_gettext("read: lists and metrics"),
    "admin": lazy_gettext("admin: numbers, templates, triggers, webhooks, settings"),
}
VIA_LABELS = {
    "api": "JSON API (Bearer)",
    "mpwa": lazy_gettext("MPWA /send-message (api_key in the URL)"),
    "fonnte": lazy_gettext("Fonnte /send (token)"),
}


@bp.get("/api-keys")
@login_required
def api_keys_page(new_key: str | None = None, error: str | None = None, status: int = 200):
    keys = db.session.scalars(db.select(ApiKey).order_by(ApiKey.id))
    return render_template(
        "admin/api_keys.html",
        keys=list(keys),
        when=local_time.format_time,
        via_labels=VIA_LABELS,
        scope_labels=SCOPE_LABELS,
        new_key=new_key,
        error=error,
    ), status


@bp.post("/api-keys")
@login_required
def create_api_key():
    """Make a key; the raw key is shown on this one page and never again."""
    name = request.form.get("name", "").strip()
    if not name or len(name) > 100:
        return api_keys_page(error=_("name: 1–100 characters"), status=400)
    scopes = request.form.getlist("scope")
    if not scopes:
        return api_keys_page(error=_("scopes: choose at least one"), status=400)
    try:
        _key, raw = api_keys.create_api_key(name, scopes)
    except KabarError as exc:
        return api_keys_page(error=phrases.say(exc.message), status=400)
    return api_keys_page(new_key=raw, status=201)


@bp.post("/api-keys/<int:key_id>/drop-admin")
@login_required
def drop_admin_scope(key_id: int):
    """Take admin away from a key; what it may still do (send, read) goes on working."""
    try:
        key = db.session.get(ApiKey, key_id)
        remaining = (key.scope_set if key else set()) - {"admin"}
        key = api_keys.set_scopes(key_id, remaining)
        flash(_("Key %(name)s no longer has the admin scope.", name=key.name))
    except KabarError as exc:
        flash(phrases.say(exc.message), "error")
    return redirect(url_for("admin.api_keys_page"))


@bp.post("/api-keys/<int:key_id>/revoke")
@login_required
def revoke_api_key(key_id: int):
    try:
        key = api_keys.revoke(key_id)
        flash(_("Key %(name)s revoked.", name=key.name))
    except KabarError as exc:
        flash(phrases.say(exc.message), "error")
    return redirect(url_for("admin.api_keys_page"))
