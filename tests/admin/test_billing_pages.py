"""The admin pages for templates, triggers and bulk sends, through the Flask test client."""

from __future__ import annotations

import io
import re

import pytest

from tests.catalogue import catalogue  # noqa: F401 - fixture
from webapp.extensions import db
from webapp.intake import bulk
from webapp.models import BulkJob, Trigger, WhatsAppTemplate

pytestmark = pytest.mark.usefixtures("catalogue")


def token(client, path):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def template_row(app, name):
    with app.app_context():
        row = db.session.scalar(db.select(WhatsAppTemplate).where(WhatsAppTemplate.name == name))
        if row is not None:
            db.session.expunge(row)
    return row


def trigger_row(app, event):
    with app.app_context():
        row = db.session.scalar(db.select(Trigger).where(Trigger.event == event))
        db.session.expunge(row)
    return row


@pytest.mark.parametrize(
    "path", ["/admin/templates", "/admin/templates/new", "/admin/triggers", "/admin/bulk"]
)
def test_the_pages_need_a_login(client, path):
    r = client.get(path)
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_the_json_endpoints_need_a_login(client):
    csrf = token(client, "/admin/login")
    r = client.post("/admin/templates/preview.json", data={"csrf_token": csrf, "content": "x"})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    r = client.get("/admin/bulk/status.json")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"


def test_the_navigation_links_the_three_pages(logged_in):
    page = logged_in.get("/admin/templates").get_data(as_text=True)
    for path in ("/admin/templates", "/admin/triggers", "/admin/bulk"):
        assert f'href="{path}"' in page


# templates -------------------------------------------------------------------------------------


def test_the_template_list_shows_the_built_ins_and_their_triggers(logged_in):
    page = logged_in.get("/admin/templates").get_data(as_text=True)
    assert "new_invoice" in page and "invoice.created" in page and "bawaan" in page


def template_form(client, path, **fields):
    data = {
        "csrf_token": token(client, "/admin/templates/new"),
        "name": "promo_lebaran",
        "category": "promotion",
        "type": "text",
        "language": "id",
        "content": "Halo {{nama}}, diskon {{persen}}%!",
        **fields,
    }
    return client.post(path, data=data)


def test_a_template_created_with_active_unticked_stays_inactive(app, logged_in):
    r = template_form(logged_in, "/admin/templates/new")  # no is_active field: unticked
    assert r.status_code == 302
    row = template_row(app, "promo_lebaran")
    assert row.is_active is False and row.variables == ["nama", "persen"]
    r = template_form(
        logged_in, f"/admin/templates/{row.id}", is_active="1", content="Hai {{nama}}"
    )
    assert r.status_code == 302
    row = template_row(app, "promo_lebaran")
    assert row.is_active is True and row.content == "Hai {{nama}}"


def test_a_refused_template_shows_the_form_again_with_the_reason(app, logged_in):
    r = template_form(logged_in, "/admin/templates/new", content="x" * 4097)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "4097" in page and 'value="promo_lebaran"' in page
    assert template_row(app, "promo_lebaran") is None


def test_spam_warnings_are_shown_after_saving(logged_in):
    r = template_form(
        logged_in, "/admin/templates/new", content="Klik https://promo.example !!!!!!!!!!!!"
    )
    page = logged_in.get(r.headers["Location"]).get_data(as_text=True)
    assert "Peringatan" in page and "berisi tautan" in page and "diulang" in page


def test_list_template_sections_round_trip_through_the_form(app, logged_in):
    sections = "# Rumah\n10 Mbps | Rp150.000\n20 Mbps\n# Bisnis\n50 Mbps"
    r = template_form(
        logged_in,
        "/admin/templates/new",
        type="list",
        button_text="Pilih paket",
        sections=sections,
        footer="Kabar Net",
        is_active="1",
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    row = template_row(app, "promo_lebaran")
    assert row.extra["sections"][0]["rows"][0] == {
        "id": "1.1",
        "title": "10 Mbps",
        "description": "Rp150.000",
    }
    page = logged_in.get(f"/admin/templates/{row.id}").get_data(as_text=True)
    assert "# Rumah\n10 Mbps | Rp150.000\n20 Mbps\n# Bisnis\n50 Mbps" in page


def test_the_live_preview_renders_the_sample_values(logged_in):
    r = logged_in.post(
        "/admin/templates/preview.json",
        data={
            "csrf_token": token(logged_in, "/admin/templates/new"),
            "type": "button",
            "content": "Tagihan Rp{{amount|rupiah}} untuk {{nama}}",
            "buttons": "Bayar\nNanti",
            "data.amount": "150000",
            "data.kota": "Bogor",
        },
    )
    assert r.status_code == 200
    shown = r.get_json()
    assert shown["message"] == "Tagihan Rp150.000 untuk {{nama}}\n\n1. Bayar\n2. Nanti"
    assert shown["variables"] == ["amount", "nama"] and shown["missing"] == ["nama"]
    assert shown["unused"] == ["kota"] and "error" not in shown


def test_the_live_preview_reports_what_saving_would_refuse(logged_in):
    r = logged_in.post(
        "/admin/templates/preview.json",
        data={
            "csrf_token": token(logged_in, "/admin/templates/new"),
            "type": "text",
            "content": "Rp{{amount|idr}}",
        },
    )
    assert r.get_json()["error"]["field"] == "content"


def test_a_template_a_trigger_uses_is_not_deleted(app, logged_in):
    invoice = template_row(app, "new_invoice")
    r = logged_in.post(
        f"/admin/templates/{invoice.id}/delete",
        data={"csrf_token": token(logged_in, "/admin/templates")},
    )
    assert r.status_code == 302
    page = logged_in.get(r.headers["Location"]).get_data(as_text=True)
    assert "invoice.created" in page and "Tidak bisa dihapus" in page
    assert template_row(app, "new_invoice") is not None


def test_an_unused_template_is_deleted(app, logged_in):
    reminder = template_row(app, "payment_reminder")
    r = logged_in.post(
        f"/admin/templates/{reminder.id}/delete",
        data={"csrf_token": token(logged_in, "/admin/templates")},
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/templates")
    assert template_row(app, "payment_reminder") is None


# triggers --------------------------------------------------------------------------------------


def test_the_trigger_table_lists_the_mappings(logged_in):
    page = logged_in.get("/admin/triggers").get_data(as_text=True)
    for event in (
        "invoice.created",
        "payment.completed",
        "service.expiring",
        "voucher.activated",
        "bulk.send",
    ):
        assert f'data-trigger="{event}"' in page
    assert "kirim massal (bulk)" in page


def test_a_trigger_is_disabled_and_enabled_again(app, logged_in):
    trigger = trigger_row(app, "invoice.created")
    csrf = token(logged_in, "/admin/triggers")
    assert (
        logged_in.post(
            f"/admin/triggers/{trigger.id}/toggle", data={"csrf_token": csrf}
        ).status_code
        == 302
    )
    assert trigger_row(app, "invoice.created").enabled is False
    logged_in.post(f"/admin/triggers/{trigger.id}/toggle", data={"csrf_token": csrf})
    assert trigger_row(app, "invoice.created").enabled is True


def test_a_mapping_is_edited(app, logged_in):
    trigger = trigger_row(app, "service.expiring")
    reminder = template_row(app, "payment_reminder")
    r = logged_in.post(
        f"/admin/triggers/{trigger.id}",
        data={
            "csrf_token": token(logged_in, "/admin/triggers"),
            "event": "service.expires_soon",
            "template_id": str(reminder.id),
            "priority": "4",
        },  # enabled unticked
    )
    assert r.status_code == 302
    edited = trigger_row(app, "service.expires_soon")
    assert edited.template_id == reminder.id and edited.priority == 4
    assert edited.enabled is False


def test_a_bad_priority_is_shown_next_to_the_row(app, logged_in):
    trigger = trigger_row(app, "invoice.created")
    r = logged_in.post(
        f"/admin/triggers/{trigger.id}",
        data={
            "csrf_token": token(logged_in, "/admin/triggers"),
            "event": "invoice.created",
            "template_id": str(trigger.template_id),
            "priority": "11",
            "enabled": "1",
        },
    )
    assert r.status_code == 400
    assert "1 (tertinggi) sampai 10" in r.get_data(as_text=True)
    assert trigger_row(app, "invoice.created").priority == 1


def test_a_trigger_is_added_and_an_event_name_is_unique(app, logged_in):
    invoice = template_row(app, "new_invoice")
    data = {
        "csrf_token": token(logged_in, "/admin/triggers"),
        "event": "invoice.overdue",
        "template_id": str(invoice.id),
        "priority": "2",
        "enabled": "1",
    }
    assert logged_in.post("/admin/triggers", data=data).status_code == 302
    assert trigger_row(app, "invoice.overdue").priority == 2
    r = logged_in.post("/admin/triggers", data=data)
    assert r.status_code == 409 and "sudah ada" in r.get_data(as_text=True)


def test_recent_events_and_failures_are_shown(app, logged_in, auth):
    logged_in.post(
        "/api/events",
        headers=auth,
        json={"event": "invoice.created", "id": "evt-9", "data": {"customer_name": "B"}},
    )
    page = logged_in.get("/admin/triggers").get_data(as_text=True)
    assert "evt-9" in page and "gagal" in page and "customer_whatsapp" in page


# bulk sends ------------------------------------------------------------------------------------

CSV = (
    "No WA;Nama Pelanggan;voucher_code;Email\n"
    "0812-0000-0001;Budi;HS-1;budi@example.com\n"
    "0812;Sari;HS-2;\n"
    "+62 812 0000 0003;Joko;HS-3;\n"
)


def upload(client, text=CSV, template="voucher_activated"):
    return client.post(
        "/admin/bulk/upload",
        data={
            "csrf_token": token(client, "/admin/bulk"),
            "template": template,
            "csv": (io.BytesIO(text.encode("utf-8-sig")), "pelanggan.csv"),
        },
        content_type="multipart/form-data",
    )


def test_a_csv_is_mapped_previewed_and_sent(app, logged_in, redis_client):
    r = upload(logged_in)
    assert r.status_code == 302 and "/admin/bulk/new/" in r.headers["Location"]
    mapping_url = r.headers["Location"].split("?")[0]
    page = logged_in.get(r.headers["Location"]).get_data(as_text=True)
    # The number column is guessed, voucher_code matched by name, the first rows previewed.
    assert '<option value="No WA" selected>' in page
    assert '<option value="voucher_code" selected>' in page
    assert "🔑 Kode: HS-1" in page and "6281200000001" in page
    assert "belum diisi: duration, expiry_time" in page
    assert "nomor terlalu pendek" in page  # the second row

    csrf = token(logged_in, "/admin/bulk")
    form = {
        "csrf_token": csrf,
        "template": "voucher_activated",
        "phone_column": "No WA",
        "email_column": "Email",
        "var.voucher_code": "voucher_code",
        "var.duration": "",
        "fixed.duration": "30 hari",
        "var.expiry_time": "",
        "fixed.expiry_time": "31-12-2026",
        "priority": "3",
    }
    page = logged_in.post(mapping_url, data=form | {"action": "preview"}).get_data(as_text=True)
    assert "⏰ Masa Aktif: 30 hari" in page and "belum diisi" not in page

    r = logged_in.post(mapping_url, data=form | {"action": "send"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/bulk")
    with app.app_context():
        job = db.session.scalar(db.select(BulkJob))
        assert job.total == 3 and job.priority == 3
        assert job.template_data == {"duration": "30 hari", "expiry_time": "31-12-2026"}
        assert job.recipients[0] == {
            "whatsapp": "0812-0000-0001",
            "data": {"voucher_code": "HS-1"},
            "email": "budi@example.com",
        }
        bulk.expand(job.id)
        db.session.refresh(job)
        assert job.expanded == 3 and job.invalid_count == 1
        job_id = job.job_id
    assert redis_client.keys("kabar:bulk-upload:*") == []  # the upload is gone once sent

    page = logged_in.get("/admin/bulk").get_data(as_text=True)
    assert job_id in page and 'role="progressbar"' in page and "tidak dikirim" in page
    status = logged_in.get("/admin/bulk/status.json").get_json()["jobs"][0]
    assert status["jobId"] == job_id and status["counts"]["queued"] == 2


def test_a_bulk_job_is_paused_resumed_and_cancelled_from_the_page(app, logged_in):
    with app.app_context():
        job = bulk.submit(
            bulk.parse_request(
                {
                    "recipients": [{"whatsapp": "081200000001", "data": {"voucher_code": "A"}}],
                    "template": "voucher_activated",
                    "templateData": {"duration": "1", "expiry_time": "2"},
                }
            )
        )
        bulk.expand(job.id)
        job_id = job.job_id
    csrf = token(logged_in, "/admin/bulk")
    for action, status in (("pause", "paused"), ("resume", "running"), ("cancel", "cancelled")):
        r = logged_in.post(f"/admin/bulk/{job_id}/{action}", data={"csrf_token": csrf})
        assert r.status_code == 302
        with app.app_context():
            assert bulk.get_job(job_id).status == status
    r = logged_in.post(f"/admin/bulk/{job_id}/resume", data={"csrf_token": csrf})
    page = logged_in.get(r.headers["Location"]).get_data(as_text=True)
    assert "bukan dijeda" in page


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "Pilih berkas"), ("whatsapp\n", "tidak berisi baris"), ("a,a\n1,2\n", "berbeda")],
)
def test_a_bad_csv_is_refused_with_a_reason(logged_in, text, reason):
    if text:
        r = upload(logged_in, text)
    else:
        r = logged_in.post(
            "/admin/bulk/upload",
            data={"csrf_token": token(logged_in, "/admin/bulk")},
            content_type="multipart/form-data",
        )
    assert r.status_code == 422 and reason in r.get_data(as_text=True)


def test_an_expired_upload_sends_back_to_the_list(logged_in):
    r = logged_in.get("/admin/bulk/new/abcdefghijklmnop")
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/bulk")


def mapped_preview(client) -> str:
    """The confirmation page of CSV (three rows, the second with a wrong number), every
    variable given."""
    r = upload(client)
    form = {
        "csrf_token": token(client, "/admin/bulk"),
        "template": "voucher_activated",
        "phone_column": "No WA",
        "var.voucher_code": "voucher_code",
        "fixed.duration": "30 hari",
        "fixed.expiry_time": "31-12-2026",
        "action": "preview",
    }
    return client.post(r.headers["Location"].split("?")[0], data=form).get_data(as_text=True)


def test_the_forecast_counts_the_rows_that_will_be_sent_as_the_send_button_does(logged_in):
    page = mapped_preview(logged_in)  # no number connected
    assert "Kirim ke 2 penerima" in page
    forecast = page.split('data-field="forecast">', 1)[1].split("</p>", 1)[0]
    assert forecast == "0 akan terkirim hari ini; 2 menunggu nomor yang bisa mengirim"
