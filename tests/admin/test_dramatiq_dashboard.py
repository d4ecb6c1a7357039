"""The Dramatiq dashboard is mounted behind the admin login and works with our Dramatiq."""

from __future__ import annotations

import re

from webapp.services import admins
from workers import broker


def login(app, client):
    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/admin/login", data={"email": "ops@example.com",
                                          "password": "correct horse battery",
                                          "csrf_token": token})
    assert r.status_code == 302


def test_the_dashboard_needs_a_login(client):
    r = client.get("/admin/dramatiq/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_the_dashboard_lists_our_queues_and_jobs(app, client):
    login(app, client)
    broker.enqueue("send_bulk", broker.BULK, 12345)
    r = client.get("/admin/dramatiq/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "bulk" in page and "urgent" in page
    r = client.get("/admin/dramatiq/queues/bulk")
    assert r.status_code == 200 and "send_bulk" in r.get_data(as_text=True)
