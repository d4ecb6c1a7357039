"""Admin page "Webhook": the operator's webhooks, what each listens to and how its last delivery
went. Webhooks are made and removed through the API (``/api/whatsapp/webhooks``), which shows
the signing secret once; the page never shows it.
"""

from __future__ import annotations

from datetime import datetime

from flask import render_template

from webapp.admin import bp, login_required
from webapp.models import as_utc
from webapp.services import webhooks


@bp.get("/webhooks")
@login_required
def webhooks_page():
    return render_template("admin/webhooks.html", webhooks=webhooks.list_webhooks(), when=_when)


def _when(value: datetime | None) -> str:
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"
