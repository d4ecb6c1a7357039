"""Admin page "Webhook": the operator's webhooks, what each listens to and how its last delivery
went. Webhooks are made and removed through the API (``/api/whatsapp/webhooks``), which shows
the signing secret once; the page never shows it.
"""

from __future__ import annotations

from flask import render_template

from webapp.admin import bp, local_time, login_required
from workers.pipeline import webhooks


@bp.get("/webhooks")
@login_required
def webhooks_page():
    return render_template(
        "admin/webhooks.html", webhooks=webhooks.list_webhooks(), when=local_time.format_time
    )
