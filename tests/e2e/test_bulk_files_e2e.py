"""Bulk sends from the files Excel writes, uploaded on *Kirim massal* and sent through every real
process to the simulator's phones: each phone receives exactly the text of its row, curly quotes
and all, and the row whose number has letters reaches no one."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest

from tests.e2e.helpers import inboxes, link_numbers, phone
from tests.polling import wait_for
from webapp.extensions import db
from webapp.intake import admins
from webapp.models import BulkJob

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NAMES = ["Dedi “Jum’at”", "Sari – Cabang Timur", "Budi ‘Pak RT’"]
SENT = ("sent", "delivered", "read")


def local(n: int) -> str:
    """``phone(n)`` as an operator types it: 0812-xxxx-xxxx."""
    digits = "0" + phone(n)[2:]
    return f"{digits[:4]}-{digits[4:8]}-{digits[8:]}"


def log_in(app, client) -> str:
    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
    token = CSRF.search(client.get("/admin/login").get_data(as_text=True)).group(1)
    form = {"email": "ops@example.com", "password": "correct horse battery", "csrf_token": token}
    assert client.post("/admin/login", data=form).status_code == 302
    return CSRF.search(client.get("/admin/bulk").get_data(as_text=True)).group(1)


def send_file(app, client, auth, raw: bytes, filename: str) -> str:
    """Upload on the page, map the columns, send; the bulk job's id."""
    template = "sapaan_" + filename.rsplit(".", 1)[1]  # templates outlive a test
    r = client.post(
        "/api/whatsapp/templates",
        headers=auth,
        json={"name": template, "content": "Halo {{nama}}, tagihan Anda {{tagihan}}."},
    )
    assert r.status_code == 201, r.get_json()
    csrf = log_in(app, client)
    r = client.post(
        "/admin/bulk/upload",
        data={"csrf_token": csrf, "template": template, "csv": (io.BytesIO(raw), filename)},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    mapping = r.headers["Location"].split("?")[0]
    form = {
        "csrf_token": csrf,
        "template": template,
        "phone_column": "No WA",
        "var.nama": "Nama",
        "var.tagihan": "Tagihan",
        "action": "send",
    }
    assert client.post(mapping, data=form).status_code == 302
    with app.app_context():
        return db.session.scalar(db.select(BulkJob.job_id))


def sent_as_typed(client, auth, redis_client, job_id, amounts):
    def finished():
        report = client.get(f"/api/whatsapp/bulk/{job_id}", headers=auth).get_json()
        return report["status"] == "completed" and report

    report = wait_for(finished, timeout=60)
    assert sum(report["counts"][s] for s in SENT) == 3 and report["counts"]["failed"] == 0
    assert report["invalid"] == 1 and report["errors"][0]["reason"] == "letters"
    received = inboxes(redis_client, range(3))
    for n, inbox in received.items():
        expected = f"Halo {NAMES[n]}, tagihan Anda {amounts[n]}."
        assert [entry["text"] for entry in inbox] == [expected], n


@pytest.fixture
def numbers(client, auth, kabar_processes):
    link_numbers(client, auth, 2, interval_ms=100)


@pytest.mark.usefixtures("numbers")
def test_an_xlsx_bulk_reaches_each_phone_with_its_row(app, client, auth, redis_client):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["No WA", "Nama", "Tagihan"])
    sheet.append([int(phone(0)), NAMES[0], 250000])  # a number cell, as Excel keeps 62...
    sheet.append([local(1), NAMES[1], "Rp150.000"])
    sheet.append(["0812-ABCD-7890", "Orang lain", 1])
    sheet.append([local(2), NAMES[2], 99.5])
    out = io.BytesIO()
    book.save(out)
    job_id = send_file(app, client, auth, out.getvalue(), "tagihan.xlsx")
    sent_as_typed(client, auth, redis_client, job_id, ["250000", "Rp150.000", "99.5"])


@pytest.mark.usefixtures("numbers")
def test_a_cp1252_semicolon_csv_bulk_reaches_each_phone_with_its_row(
    app, client, auth, redis_client
):
    rows = [
        "No WA;Nama;Tagihan",
        f"{local(0)};{NAMES[0]};250.000",
        f"{local(1)};{NAMES[1]};150.000",
        "0812-3450-000X;Orang lain;1",
        f"+{phone(2)};{NAMES[2]};75.000",
    ]
    raw = "\r\n".join(rows).encode("cp1252") + b"\r\n"
    job_id = send_file(app, client, auth, raw, "tagihan.csv")
    sent_as_typed(client, auth, redis_client, job_id, ["250.000", "150.000", "75.000"])
