"""Admin page "Kunci API": every API key with when and how it was last used, so an operator sees
which integrations call the JSON API (Bearer header) and which the MPWA-compatible
/send-message (api_key in the URL). Keys are made with ``flask create-api-key``; the page lists
them and never shows more than a key's prefix.
"""

from __future__ import annotations

from datetime import datetime

from flask import render_template

from webapp.admin import bp, login_required
from webapp.extensions import db
from webapp.models import ApiKey, as_utc

VIA_LABELS = {
    "api": "JSON API (Bearer)",
    "mpwa": "MPWA /send-message (api_key di URL / in the URL)",
}


@bp.get("/api-keys")
@login_required
def api_keys_page():
    keys = db.session.scalars(db.select(ApiKey).order_by(ApiKey.id))
    return render_template(
        "admin/api_keys.html", keys=list(keys), when=_when, via_labels=VIA_LABELS
    )


def _when(value: datetime | None) -> str:
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"
