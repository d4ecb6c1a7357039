"""What operators type and upload on the console: numbers with letters are refused with the
reason, the files Excel writes (.xlsx, Windows-1252 CSV with ";") are read with their text
intact, anything else is a form error saying what to do, and ids no row can have are 404."""

from __future__ import annotations

import io
import os

import openpyxl
import pytest

from webapp.extensions import db
from webapp.intake import bulk
from webapp.models import BulkJob, WhatsAppMessage

ADVICE = "Simpan sebagai CSV UTF-8 atau .xlsx"
# Excel on Windows in an Indonesian locale: ";" between fields, Windows-1252, CRLF.
CP1252_CSV = (
    "No WA;Nama;voucher_code\r\n0812-0000-0001;Dedi “Jum’at”;HS-1\r\n0812-ABCD-7890;Sari;HS-2\r\n"
).encode("cp1252")


def xlsx(*rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, raw: bytes, filename: str):
    return client.post(
        "/admin/bulk/upload",
        data={
            "csrf_token": client.csrf,
            "template": "voucher_activated",
            "csv": (io.BytesIO(raw), filename),
        },
        content_type="multipart/form-data",
    )


def mapped(client, raw: bytes, filename: str) -> tuple[str, str]:
    """Upload; the mapping page's URL and text."""
    r = upload(client, raw, filename)
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"].split("?")[0], client.get(r.headers["Location"]).get_data(
        as_text=True
    )


def send(app, client, url: str) -> BulkJob:
    form = {
        "csrf_token": client.csrf,
        "template": "voucher_activated",
        "phone_column": "No WA",
        "var.voucher_code": "voucher_code",
        "fixed.duration": "30 hari",
        "fixed.expiry_time": "31-12-2026",
        "action": "send",
    }
    assert client.post(url, data=form).status_code == 302
    with app.app_context():
        job = db.session.scalar(db.select(BulkJob))
        bulk.expand(job.id)
        db.session.refresh(job)
        db.session.expunge(job)
    return job


def contents(app) -> dict[str, str]:
    with app.app_context():
        query = db.select(WhatsAppMessage.to_number, WhatsAppMessage.content)
        return {number: text for number, text in db.session.execute(query)}


def test_a_cp1252_semicolon_csv_keeps_its_curly_quotes_and_refuses_letters(app, logged_in):
    url, page = mapped(logged_in, CP1252_CSV, "pelanggan.csv")
    assert '<option value="No WA" selected>' in page and "Dedi “Jum’at”" in page
    assert "0812-ABCD-7890: nomor berisi huruf" in page  # the preview of the second row
    job = send(app, logged_in, url)
    assert job.total == 2 and job.invalid_count == 1
    assert job.errors[0]["reason"] == "letters"  # stored in English, as workers store
    (text,) = contents(app).values()
    assert "HS-1" in text and "\x93" not in text and "\x92" not in text
    page = logged_in.get("/admin/bulk").get_data(as_text=True)
    assert "0812-ABCD-7890" in page and "nomor berisi huruf" in page


def test_an_xlsx_is_mapped_previewed_and_sent(app, logged_in):
    raw = xlsx(
        ["No WA", "Nama", "voucher_code"],
        [6281200000001, "Dedi “Jum’at”", "HS-1"],
        ["0812-0000-0002", "Sari", 778],
    )
    url, page = mapped(logged_in, raw, "pelanggan.xlsx")
    assert "pelanggan.xlsx" in page and "6281200000001" in page and "HS-1" in page
    job = send(app, logged_in, url)
    assert job.total == 2 and job.invalid_count == 0
    sent = contents(app)
    assert sent.keys() == {"6281200000001", "6281200000002"}
    assert "HS-1" in sent["6281200000001"] and "778" in sent["6281200000002"]


def zipped() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("laporan.txt", "bukan tabel")
    return out.getvalue()


@pytest.mark.parametrize(
    ("raw", "filename", "says"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "pelanggan.xls", "(.xls)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "tagihan.pdf", "PDF"),
        (zipped(), "pelanggan.zip", "arsip zip"),
        (b"PK\x03\x04" + os.urandom(300), "pelanggan.xlsx", "rusak"),
        (os.urandom(3000), "pelanggan.csv", "biner"),
        (b"", "kosong.csv", "kosong"),
        (b'whatsapp,nama\n0812,"' + b"x" * 140_000 + b'"\n', "besar.csv", "128 KiB"),
    ],
)
def test_a_file_that_is_no_table_is_a_form_error_saying_what_to_do(
    logged_in, redis_client, raw, filename, says
):
    r = upload(logged_in, raw, filename)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'id="upload-error"' in page and says in page and ADVICE in page
    assert '<option value="voucher_activated" selected>' in page  # the choice is kept
    assert redis_client.keys("kabar:bulk-upload:*") == []


def test_a_number_with_letters_on_the_send_form_is_refused_and_not_sent(app, logged_in):
    r = logged_in.post(
        "/admin/messages/send",
        data={"csrf_token": logged_in.csrf, "to": "0812-ABCD-7890", "text": "Halo"},
        follow_redirects=True,
    )
    assert "nomor berisi huruf" in r.get_data(as_text=True)
    assert contents(app) == {}


@pytest.mark.parametrize("bad", ["9223372036854775808", "2147483648"])
def test_pages_of_ids_no_row_can_have_are_not_found(logged_in, bad):
    for path in [f"/admin/messages/{bad}", f"/admin/templates/{bad}"]:
        assert logged_in.get(path).status_code == 404, path
    form = {"csrf_token": logged_in.csrf}
    for path in [f"/admin/messages/{bad}/resend", f"/admin/triggers/{bad}/toggle"]:
        assert logged_in.post(path, data=form).status_code == 404, path
    assert logged_in.get(f"/admin/messages?template={bad}").status_code < 500
