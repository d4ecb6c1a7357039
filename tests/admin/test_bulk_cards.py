"""The cards of *Kirim massal*: a name, every count a bulk send has, a bar whose failed part is
red, a link to the rows, "resend every failed message", and a confirmation that counts only the
rows that will be sent."""

from __future__ import annotations

import io
import json
import re

import pytest

from tests.catalogue import catalogue  # noqa: F401 - fixture
from webapp.extensions import db
from webapp.intake import bulk
from webapp.models import BulkJob, Contact, WhatsAppMessage, WhatsAppQueueJob
from workers.queue import keys

pytestmark = pytest.mark.usefixtures("catalogue")


def numbers(n: int) -> list[str]:
    return [f"08120000{i:04d}" for i in range(1, n + 1)]


@pytest.fixture
def job(app):
    """A bulk send of 8 good numbers, one duplicate and one impossible number, expanded, whose
    rows then went: 2 sent (one delivered since), 2 held by a limit, 2 failed, 1 skipped (opted
    out), 1 still queued."""
    good = numbers(8)
    recipients = [{"whatsapp": n, "data": {"voucher_code": f"V{i}"}} for i, n in enumerate(good)]
    recipients += [{"whatsapp": good[0]}, {"whatsapp": "0812-ABCD"}]
    with app.app_context():
        created = bulk.submit(
            bulk.parse_request(
                {
                    "recipients": recipients,
                    "template": "voucher_activated",
                    "templateData": {"duration": "30 hari", "expiry_time": "31-12-2026"},
                }
            )
        )
        bulk.expand(created.id)
        rows = list(
            db.session.scalars(
                db.select(WhatsAppMessage)
                .where(WhatsAppMessage.bulk_job_id == created.id)
                .order_by(WhatsAppMessage.id)
            )
        )
        assert len(rows) == 8
        rows[0].status, rows[1].status = "sent", "delivered"
        for row in rows[2:4]:  # held: still queued, with the reason the worker gives
            row.held_reason = "daily_cap"
        for row in rows[4:6]:
            row.status, row.error_message = "failed", "WhatsApp refused the message (479)"
        rows[6].status = "skipped"
        db.session.commit()
        return {"job_id": created.job_id, "ids": [row.id for row in rows]}


def card(client, job_id: str) -> str:
    page = client.get("/admin/bulk").get_data(as_text=True)
    match = re.search(rf'<section class="job[^"]*" data-job="{job_id}".*?</section>', page, re.S)
    assert match, page
    return match.group(0)


def count(html: str, key: str) -> int:
    return int(re.search(rf'data-count="{key}">(\d+)<', html).group(1))


def width(html: str, key: str) -> float:
    return float(re.search(rf'data-bar="{key}" style="width: ([\d.]+)%"', html).group(1))


def test_a_card_names_the_send_and_counts_every_kind_of_row(logged_in, job):
    shown = card(logged_in, job["job_id"])
    assert re.search(r'data-field="name">voucher_activated, \d\d-\d\d-\d{4} \d\d:\d\d WIB<', shown)
    expected = {"sent": 2, "held": 2, "failed": 2, "skipped": 1, "invalid": 1, "duplicate": 1,
                "queued": 1}  # fmt: skip
    assert {key: count(shown, key) for key in expected} == expected
    assert "ditahan batas" in shown and "dilewati (berhenti langganan)" in shown
    assert "UTC" not in shown


def test_the_bar_shows_failed_in_red_and_held_apart_and_is_not_done_while_rows_wait(logged_in, job):
    shown = card(logged_in, job["job_id"])
    # 10 recipients: each row is 10% of the bar.
    assert (
        width(shown, "sent") == 20 and width(shown, "held") == 20 and width(shown, "failed") == 20
    )
    assert width(shown, "skipped") == width(shown, "invalid") == width(shown, "duplicate") == 10
    assert 'class="seg-failed"' in shown
    assert "selesai" not in shown and "diproses" in shown
    polled = logged_in.get("/admin/bulk/status.json").get_json()["jobs"][0]
    assert polled["bar"]["failed"] == 20 and polled["counts"]["held"] == 2
    assert polled["done"] is False and "report" not in polled


def send_the_waiting_rows(app, job) -> None:
    """What the worker does once the limit allows: the queued and held rows go out."""
    with app.app_context():
        db.session.execute(
            db.update(WhatsAppMessage)
            .where(WhatsAppMessage.id.in_(job["ids"]), WhatsAppMessage.status == "queued")
            .values(status="sent", held_reason=None)
        )
        db.session.commit()


def test_a_card_is_done_only_once_nothing_is_queued_or_held(app, logged_in, job):
    send_the_waiting_rows(app, job)
    shown = card(logged_in, job["job_id"])
    assert "selesai 100%" in shown
    assert width(shown, "failed") == 20  # done, and still red where it failed


def test_a_card_links_to_its_rows_on_the_messages_page(logged_in, job):
    shown = card(logged_in, job["job_id"])
    link = re.search(r'href="(/admin/messages\?bulk=[^"]+)"', shown).group(1)
    page = logged_in.get(link).get_data(as_text=True)
    assert f"Pesan dari kirim massal {job['job_id']}" in page
    assert page.count('href="/admin/messages/') == 8
    page = logged_in.get("/admin/messages?bulk=bulk-nope").get_data(as_text=True)
    assert "tidak ada kirim massal bulk-nope" in page


def test_every_failed_row_is_resent_once(app, logged_in, job):
    shown = card(logged_in, job["job_id"])
    assert "Kirim ulang semua yang gagal" in shown
    url = f"/admin/bulk/{job['job_id']}/resend-failed"
    r = logged_in.post(url, data={"csrf_token": logged_in.csrf}, follow_redirects=True)
    assert "2 pesan gagal masuk antrean lagi" in r.get_data(as_text=True)
    failed_ids = job["ids"][4:6]
    with app.app_context():
        rows = [db.session.get(WhatsAppMessage, i) for i in failed_ids]
        assert [(m.status, m.error_message) for m in rows] == [("queued", None)] * 2
        ledger = db.session.scalar(
            db.select(WhatsAppQueueJob).where(WhatsAppQueueJob.job_id == rows[0].job_id)
        )
        assert ledger.job_data == {"message_ids": failed_ids}  # one batch, in the bulk band
    r = logged_in.post(url, data={"csrf_token": logged_in.csrf}, follow_redirects=True)
    assert "tidak punya pesan yang gagal" in r.get_data(as_text=True)  # a second click
    assert "Kirim ulang semua yang gagal" not in card(logged_in, job["job_id"])


def test_a_completed_send_runs_again_for_its_resent_rows(app, logged_in, job):
    send_the_waiting_rows(app, job)
    with app.app_context():
        assert bulk.finish_if_done(bulk.get_job(job["job_id"]))
    logged_in.post(
        f"/admin/bulk/{job['job_id']}/resend-failed", data={"csrf_token": logged_in.csrf}
    )
    with app.app_context():
        again = bulk.get_job(job["job_id"])
        assert again.status == "running" and again.finished_at is None


def test_a_row_a_live_session_host_still_sends_is_not_resent(app, logged_in, job, redis_client):
    busy, free = job["ids"][4:6]
    claim = {"state": "sending", "host": "h1", "session_id": "session-1"}
    redis_client.set(keys.sent_record(busy), json.dumps(claim))
    redis_client.set(keys.host("h1"), "[]", px=3000)
    r = logged_in.post(
        f"/admin/bulk/{job['job_id']}/resend-failed",
        data={"csrf_token": logged_in.csrf},
        follow_redirects=True,
    )
    page = r.get_data(as_text=True)
    assert "1 pesan gagal masuk antrean lagi" in page
    assert "1 pesan masih dikirim oleh session host yang hidup" in page
    with app.app_context():
        assert db.session.get(WhatsAppMessage, busy).status == "failed"
        assert db.session.get(WhatsAppMessage, free).status == "queued"


def test_a_post_without_csrf_resends_nothing(app, logged_in, job):
    assert logged_in.post(f"/admin/bulk/{job['job_id']}/resend-failed").status_code == 400
    with app.app_context():
        assert db.session.get(WhatsAppMessage, job["ids"][4]).status == "failed"


def mapping(client, text: str) -> tuple[str, dict[str, str]]:
    """Upload ``text`` as a CSV: the mapping page's address and its form, filled in."""
    r = client.post(
        "/admin/bulk/upload",
        data={
            "csrf_token": client.csrf,
            "template": "voucher_activated",
            "csv": (io.BytesIO(text.encode()), "pelanggan.csv"),
        },
        content_type="multipart/form-data",
    )
    form = {"csrf_token": client.csrf, "template": "voucher_activated",
            "phone_column": "whatsapp", "var.voucher_code": "voucher_code",
            "fixed.duration": "30 hari", "fixed.expiry_time": "31-12-2026"}  # fmt: skip
    return r.headers["Location"].split("?")[0], form


def test_the_confirmation_counts_only_the_rows_that_will_be_sent(app, logged_in):
    with app.app_context():
        db.session.add(Contact(phone="6281200000003", opted_out=True))
        db.session.commit()
    rows = ["081200000001", "0812-0000-0001", "081200000002", "081200000003", "0812-ABCD", ""]
    text = "whatsapp,voucher_code\n" + "".join(f"{n},V{i}\n" for i, n in enumerate(rows))
    text += "081200000004,\n"  # no voucher code: a missing variable
    url, form = mapping(logged_in, text)
    page = logged_in.post(url, data=form | {"action": "preview"}).get_data(as_text=True)
    # 7 rows: one duplicate, one opted out, one impossible number, one empty, one missing a
    # variable; two will be sent.
    assert "Kirim ke 2 penerima" in page and "Kirim ke 2 penerima?" in page


def test_a_schedule_is_typed_dd_mm_yyyy_in_the_operators_zone(app, logged_in):
    text = "whatsapp,voucher_code\n081200000001,V1\n"
    url, form = mapping(logged_in, text)
    form["action"] = "send"
    page = logged_in.get(url).get_data(as_text=True)
    assert "Jadwal (kosong: sekarang; WIB)" in page and 'placeholder="hh-bb-tttt jj:mm"' in page
    r = logged_in.post(url, data=form | {"schedule_at": "12/31/2099 08:00"})
    assert r.status_code == 400 and "bukan tanggal dan jam" in r.get_data(as_text=True)
    r = logged_in.post(url, data=form | {"schedule_at": "31-12-2099 08:00"})
    assert r.status_code == 302
    with app.app_context():
        scheduled = db.session.scalar(db.select(BulkJob))
        assert scheduled.status == "scheduled"
        assert scheduled.schedule_at.isoformat() == "2099-12-31T01:00:00+00:00"  # 08:00 WIB
    page = logged_in.get("/admin/bulk").get_data(as_text=True)
    assert "terjadwal 31-12-2099 08:00:00 WIB" in page
