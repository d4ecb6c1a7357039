"""/api/whatsapp/send-bulk and /api/whatsapp/bulk/:jobId (no worker: expansion is called here)."""

from __future__ import annotations

from webapp.extensions import db
from webapp.intake import bulk
from webapp.models import BulkJob

VOUCHER = {"duration": "30 hari", "expiry_time": "31-12-2026"}


def body(count=3, **options):
    recipients = [
        {"whatsapp": f"0812{n:08d}", "data": {"voucher_code": f"V{n}"}} for n in range(count)
    ]
    return {
        "recipients": recipients,
        "template": "voucher_activated",
        "templateData": VOUCHER,
        **options,
    }


def expand(app, job_id):
    with app.app_context():
        job = bulk.get_job(job_id)
        bulk.expand(job.id)


def test_a_bulk_send_is_accepted_at_once(client, auth):
    r = client.post("/api/whatsapp/send-bulk", headers=auth, json=body(5))
    assert r.status_code == 202, r.get_json()
    answer = r.get_json()
    assert answer["queued"] == 5 and answer["status"] == "pending"
    assert answer["statusUrl"] == f"/api/whatsapp/bulk/{answer['jobId']}"


def test_the_status_reports_counts_and_progress(app, client, auth):
    job_id = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json=body(3) | {"recipients": body(3)["recipients"] + [{"whatsapp": "1"}]},
    ).get_json()["jobId"]
    expand(app, job_id)
    status = client.get(f"/api/whatsapp/bulk/{job_id}", headers=auth).get_json()
    assert status["status"] == "running" and status["total"] == 4
    assert status["counts"]["queued"] == 3 and status["invalid"] == 1
    assert status["progress"] == 25.0
    (error,) = status["errors"]
    assert error["index"] == 3 and error["field"] == "recipients.3.whatsapp"
    listed = client.get("/api/whatsapp/bulk", headers=auth).get_json()["jobs"]
    assert [j["jobId"] for j in listed] == [job_id] and "errors" not in listed[0]


def test_pause_resume_cancel(app, client, auth):
    job_id = client.post("/api/whatsapp/send-bulk", headers=auth, json=body(4)).get_json()["jobId"]
    expand(app, job_id)
    base = f"/api/whatsapp/bulk/{job_id}"
    paused = client.post(f"{base}/pause", headers=auth).get_json()
    assert paused["status"] == "paused" and paused["counts"]["paused"] == 4
    assert client.post(f"{base}/pause", headers=auth).status_code == 409
    resumed = client.post(f"{base}/resume", headers=auth).get_json()
    assert resumed["status"] == "running" and resumed["counts"]["queued"] == 4
    cancelled = client.post(f"{base}/cancel", headers=auth).get_json()
    assert cancelled["status"] == "cancelled" and cancelled["counts"]["cancelled"] == 4
    r = client.post(f"{base}/resume", headers=auth)
    assert r.status_code == 409 and r.get_json()["error"]["field"] == "jobId"


def test_a_scheduled_bulk_send_waits(app, client, auth):
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json=body(2, scheduleAt="2099-01-01T08:00:00+07:00"),
    )
    assert r.status_code == 202
    assert r.get_json()["status"] == "scheduled"
    assert r.get_json()["scheduleAt"] == "2099-01-01T01:00:00.000Z"


def test_refusals(client, auth):
    r = client.post("/api/whatsapp/send-bulk", headers=auth, json=body(2) | {"template": "nope"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "unknown_template"
    r = client.post("/api/whatsapp/send-bulk", headers=auth, json=body(2) | {"recipients": {}})
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "recipients"
    r = client.post("/api/whatsapp/send-bulk", headers=auth, data="[", content_type="text/plain")
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "body"
    assert client.get("/api/whatsapp/bulk/bulk-nope", headers=auth).status_code == 404
    assert client.post("/api/whatsapp/send-bulk", json=body(1)).status_code == 401


def test_ten_thousand_recipients_are_accepted_without_expanding(app, client, auth):
    r = client.post("/api/whatsapp/send-bulk", headers=auth, json=body(10_000))
    assert r.status_code == 202 and r.get_json()["queued"] == 10_000
    with app.app_context():
        job = db.session.scalar(db.select(BulkJob))
        assert job.total == 10_000 and job.expanded == 0
