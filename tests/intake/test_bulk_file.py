"""Reading a bulk send's file: the CSVs and workbooks operators export, and everything else
refused with what to do instead."""

from __future__ import annotations

import csv
import io
import os
import zipfile

import openpyxl
import pytest

from webapp.intake import bulk_file
from webapp.intake.bulk_file import UnreadableFile

ADVICE = "Simpan sebagai CSV UTF-8 atau .xlsx"


@pytest.fixture(autouse=True)
def ctx(app):
    with app.test_request_context("/admin/bulk"):  # the console's language words the refusals
        yield


def workbook(*rows, sheets: int = 1) -> bytes:
    book = openpyxl.Workbook()
    for n in range(1, sheets):
        book.create_sheet(f"Lain {n}").append(["bukan", "ini"])
    for row in rows:
        book.worksheets[0].append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def refusal(raw: bytes) -> str:
    with pytest.raises(UnreadableFile) as caught:
        bulk_file.read(raw)
    assert caught.value.field == "file" and caught.value.status == 422
    return caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        "whatsapp,nama\n0812-1111-2222,Dedi “Jum’at”\n".encode(),
        "\ufeffwhatsapp;nama\r\n0812-1111-2222;Dedi “Jum’at”\r\n".encode(),  # Excel's CSV UTF-8
        "whatsapp;nama\r\n0812-1111-2222;Dedi “Jum’at”\r\n".encode("cp1252"),  # Excel, Windows
        "whatsapp\tnama\n0812-1111-2222\tDedi “Jum’at”\n".encode("cp1252"),
    ],
    ids=["utf-8 comma", "utf-8 bom semicolon", "cp1252 semicolon", "cp1252 tab"],
)
def test_the_csvs_spreadsheets_write_are_read_with_their_curly_quotes(raw):
    table = bulk_file.read(raw)
    assert table.columns == ["whatsapp", "nama"]
    assert table.rows == [["0812-1111-2222", "Dedi “Jum’at”"]]


def test_a_quoted_field_may_hold_the_delimiter_and_a_line_break():
    raw = 'nama;alamat;whatsapp\nBudi;"Jl. Merdeka; No. 5\nBandung";0812\n'.encode("cp1252")
    assert bulk_file.read(raw).rows == [["Budi", "Jl. Merdeka; No. 5\nBandung", "0812"]]


def test_an_xlsx_is_read_from_its_first_sheet_whatever_its_name_says():
    raw = workbook(
        ["No WA", "Nama", "Tagihan", "Jatuh tempo"],
        [6281234567890, "Dedi “Jum’at”", 250000, None],
        [None, None, None, None],  # a blank row
        ["0812-3456-7891", "Sari", 1.5, "10-12-2026"],
        sheets=2,
    )
    table = bulk_file.read(raw)
    assert table.columns == ["No WA", "Nama", "Tagihan", "Jatuh tempo"]
    assert table.rows == [
        ["6281234567890", "Dedi “Jum’at”", "250000", ""],
        ["0812-3456-7891", "Sari", "1.5", "10-12-2026"],
    ]


def test_an_xlsx_number_typed_as_a_float_keeps_its_digits():
    table = bulk_file.read(workbook(["whatsapp"], [6281234567890.0]))
    assert table.rows == [["6281234567890"]]


def zip_of(**files: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"", "Berkas ini kosong"),
        (b"\r\n\r\n", "Berkas ini kosong"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "(.xls)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>>", "PDF"),
        (zip_of(**{"a.txt": "hi"}), "arsip zip"),
        (zip_of(**{"xl/workbook.xml": "<not a workbook"}), "rusak"),
        (b"PK\x03\x04 cut short", "rusak"),
        (os.urandom(4096), "biner"),
        ("whatsapp,nama\n0812,Budi\n".encode("utf-16"), "biner"),  # NUL bytes
        (b"whatsapp,nama\n0812,\x81\x8d\n", "bukan teks UTF-8 maupun Windows-1252"),
        (b'whatsapp,nama\n0812,"' + b"x" * (csv.field_size_limit() + 1) + b'"\n', "128 KiB"),
    ],
    ids=[
        "empty",
        "blank lines",
        "xls",
        "pdf",
        "zip",
        "broken xlsx",
        "cut zip",
        "random",
        "utf-16",
        "undecodable",
        "huge field",
    ],
)
def test_what_is_no_table_is_refused_with_what_to_do(raw, says):
    message = refusal(raw)
    assert says in message and ADVICE in message


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"whatsapp,nama\n", "hanya nama kolom"),
        (b"nama,nama\nBudi,Sari\n", "Nama kolom harus berbeda"),
        (("whatsapp\n" + "0812\n" * (bulk_file.MAX_ROWS + 1)).encode(), "Paling banyak 50,000"),
    ],
)
def test_a_table_that_cannot_be_a_bulk_send_says_why(raw, says):
    assert says in refusal(raw)


def test_a_sheet_too_long_to_be_a_recipient_list_is_refused_without_reading_it_all():
    book = openpyxl.Workbook()
    book.active.append(["whatsapp"])
    book.active.cell(row=1_000_000, column=1, value="0812")
    out = io.BytesIO()
    book.save(out)
    assert "Paling banyak 50,000" in refusal(out.getvalue())


def test_a_workbook_that_unpacks_to_gigabytes_is_refused_before_it_is_opened(monkeypatch):
    monkeypatch.setattr(bulk_file, "MAX_UNPACKED_BYTES", 1024)
    raw = workbook(["whatsapp", "nama"], *[["0812", "x" * 100]] * 50)
    assert "MB" in refusal(raw)
