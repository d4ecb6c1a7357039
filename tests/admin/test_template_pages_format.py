"""The template pages show the built-in templates as customers get them: amounts in rupiah and
dates written out (the templates use their own filters since migration 0015)."""

from __future__ import annotations

import html
import re

from webapp.extensions import db
from webapp.models import WhatsAppTemplate


def test_the_built_in_invoice_previews_rupiah_and_a_written_date(app, logged_in):
    with app.app_context():
        template_id = db.session.scalar(
            db.select(WhatsAppTemplate.id).where(WhatsAppTemplate.name == "new_invoice")
        )
    page = logged_in.get(f"/admin/templates/{template_id}").get_data(as_text=True)
    content = html.unescape(re.search(r'name="content" required>(.*?)</textarea>', page, re.S)[1])
    assert "{{amount|rupiah}}" in content and "{{due_date|date}}" in content
    r = logged_in.post(
        "/admin/templates/preview.json",
        data={
            "csrf_token": logged_in.csrf,
            "type": "text",
            "content": content,
            "data.amount": "250000",
            "data.due_date": "2026-12-10",
        },
    )
    message = r.get_json()["message"]
    assert "250.000" in message and "10 Desember 2026" in message
    assert "Rp250000" not in message and "2026-12-10" not in message
