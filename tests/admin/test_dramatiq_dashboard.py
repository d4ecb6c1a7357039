"""The Dramatiq dashboard is mounted behind the admin login and works with our Dramatiq."""

from __future__ import annotations

import json
import re
import sys

from webapp.intake import admins
from workers.queue import broker
from workers.queue.contracts import Band


def login(app, client):
    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        "/admin/login",
        data={"email": "ops@example.com", "password": "correct horse battery", "csrf_token": token},
    )
    assert r.status_code == 302


def test_the_dashboard_needs_a_login(client):
    r = client.get("/admin/dramatiq/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_the_dashboard_lists_our_queues_and_jobs(app, client):
    login(app, client)
    broker.enqueue("send_bulk", Band.BULK, 12345)
    r = client.get("/admin/dramatiq/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "bulk" in page and "urgent" in page
    r = client.get("/admin/dramatiq/queues/bulk")
    assert r.status_code == 200 and "send_bulk" in r.get_data(as_text=True)


PLANTED = '"><script>document.title="pwned"</script><input value="'
BODY = '{"event":"message.incoming","data":{"from":"6281234567890","text":"Tagihan saya salah"}}'


def test_a_planted_csrf_cookie_never_reaches_the_page(app, client):
    login(app, client)
    client.set_cookie("__dd_csrf", PLANTED)
    r = client.get("/admin/dramatiq/queues/bulk")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "<script>" not in page and "pwned" not in page
    token = re.search(r'name="__dd_csrf" value="([^"]*)"', page)
    assert token is None or re.fullmatch(r"[0-9a-f]{64}", token.group(1))
    assert "script-src" not in r.headers["Content-Security-Policy"]  # default-src 'none'
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"


def test_the_dashboards_own_csrf_cookie_still_protects_its_forms(app, client):
    login(app, client)
    broker.enqueue("send_bulk", Band.BULK, 777)
    page = client.get("/admin/dramatiq/queues/bulk").get_data(as_text=True)
    token = re.search(r'name="__dd_csrf" value="([0-9a-f]{64})"', page).group(1)
    job_id = re.search(r'name="id" value="([^"]+)"', page).group(1)
    forged = client.post(
        "/admin/dramatiq/delete-message",
        data={"__dd_csrf": "0" * 64, "queue": "bulk", "id": job_id},
    )
    assert forged.status_code == 403
    deleted = client.post(
        "/admin/dramatiq/delete-message", data={"__dd_csrf": token, "queue": "bulk", "id": job_id}
    )
    assert deleted.status_code == 302


def test_job_pages_show_no_customer_text_or_number(app, client, redis_client):
    login(app, client)
    broker.enqueue("deliver_webhook", Band.MAINTENANCE, 3, "message.incoming", "d-1", BODY)
    listing = client.get("/admin/dramatiq/queues/maintenance").get_data(as_text=True)
    job_id = re.search(r"/queues/maintenance/standard/([^\"/]+)\"", listing).group(1)
    r = client.get(f"/admin/dramatiq/queues/maintenance/standard/{job_id}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "deliver_webhook" in page
    assert "6281234567890" not in page and "Tagihan" not in page
    assert "message.incoming" in page and "[masked, " in page  # ids and names stay
    # Requeued from the page, the job keeps its real arguments.
    token = re.search(r'name="__dd_csrf" value="([0-9a-f]{64})"', page).group(1)
    client.post(
        "/admin/dramatiq/requeue-message",
        data={"__dd_csrf": token, "queue": "maintenance", "id": job_id},
    )
    (raw,) = redis_client.hvals("dramatiq:maintenance.msgs")
    assert json.loads(raw)["args"] == [3, "message.incoming", "d-1", BODY]


def test_without_the_package_the_page_says_how_to_install_it(app, client, monkeypatch):
    from webapp.admin import dramatiq_page

    login(app, client)
    monkeypatch.setattr(dramatiq_page, "_dashboard", None)
    monkeypatch.setitem(sys.modules, "dramatiq_dashboard", None)  # what a missing package does
    r = client.get("/admin/dramatiq/")
    assert r.status_code == 200
    assert "pip install --no-deps" in r.get_data(as_text=True)


def test_a_job_kabar_did_not_sign_is_not_signed_by_a_requeue(app, client, redis_client):
    """A forged job written into the dead letters: requeued from the page it would be queued
    through Kabar's broker, which signs what it queues. The page refuses it instead."""
    from dramatiq.brokers.redis import RedisBroker

    login(app, client)
    forger = RedisBroker(url=app.config["REDIS_URL"], middleware=[])
    forged = forger.enqueue(
        broker.message("deliver_webhook", Band.MAINTENANCE, 3, "message.incoming", "f-1", BODY)
    )
    redis_id = forged.options["redis_message_id"]
    # Moved to the dead letters, as a worker does with a job Kabar did not sign.
    raw = redis_client.hget("dramatiq:maintenance.msgs", redis_id)
    redis_client.hdel("dramatiq:maintenance.msgs", redis_id)
    redis_client.lrem("dramatiq:maintenance", 0, redis_id)
    redis_client.hset("dramatiq:maintenance.XQ.msgs", redis_id, raw)
    redis_client.zadd("dramatiq:maintenance.XQ", {redis_id: 0})
    page = client.get(f"/admin/dramatiq/queues/maintenance/failed/{redis_id}")
    token = re.search(r'name="__dd_csrf" value="([0-9a-f]{64})"', page.get_data(as_text=True))
    r = client.post(
        "/admin/dramatiq/requeue-message",
        data={"__dd_csrf": token.group(1), "queue": "maintenance.XQ", "id": redis_id},
    )
    assert r.status_code == 409
    # The operator reads Indonesian.
    assert "tidak diantrekan oleh Kabar" in r.get_data(as_text=True)
    assert redis_client.hlen("dramatiq:maintenance.msgs") == 0
    assert redis_client.hexists("dramatiq:maintenance.XQ.msgs", redis_id)
