"""Admin page "Kunci API": every API key with when and how it was last used, so an operator sees
which integrations call the JSON API (Bearer header) and which the MPWA-compatible
/send-message (api_key in the URL). Keys are made here (the raw key is shown once, on the answer
to the form) or with ``flask create-api-key``, and revoked here; the list never shows more than
a key's prefix.
"""

from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from webapp import phrases
from webapp.admin import bp, login_required
from webapp.extensions import db
from webapp.models import ApiKey, as_utc
from webapp.services import api_keys
from webapp.services.errors import KabarError

VIA_LABELS = {
    "api": "JSON API (Bearer)",
    "mpwa": lazy_gettext("MPWA /send-message (api_key in the URL)"),
}


@bp.get("/api-keys")
@login_required
def api_keys_page(new_key: str | None = None, error: str | None = None, status: int = 200):
    keys = db.session.scalars(db.select(ApiKey).order_by(ApiKey.id))
    return render_template(
        "admin/api_keys.html", keys=list(keys), when=_when, via_labels=VIA_LABELS,
        new_key=new_key, error=error,
    ), status


@bp.post("/api-keys")
@login_required
def create_api_key():
    """Make a key; the raw key is shown on this one page and never again."""
    name = request.form.get("name", "").strip()
    if not name or len(name) > 100:
        return api_keys_page(error=_("name: 1–100 characters"), status=400)
    _key, raw = api_keys.create_api_key(name)
    return api_keys_page(new_key=raw, status=201)


@bp.post("/api-keys/<int:key_id>/revoke")
@login_required
def revoke_api_key(key_id: int):
    try:
        key = api_keys.revoke(key_id)
        flash(_("Key %(name)s revoked.", name=key.name))
    except KabarError as exc:
        flash(phrases.say(exc.message), "error")
    return redirect(url_for("admin.api_keys_page"))


def _when(value: datetime | None) -> str:
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"
