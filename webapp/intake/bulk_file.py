"""The file a bulk send's recipients come in: a CSV or an Excel workbook, read into columns and
rows of text.

Operators export from whatever they have. Excel on Windows writes CSV in Windows-1252, and in
an Indonesian locale with ";" between fields; "CSV UTF-8" adds a BOM; LibreOffice and billing
apps write plain UTF-8 with ",". So a CSV is decoded as UTF-8 first, strictly (a BOM is
dropped), then as Windows-1252 (so “ ” ’ arrive as such, not as control characters), and its
delimiter is the one of ``,``, ``;`` and tab that its header line uses most. An ``.xlsx``
workbook (recognised by its content, whatever its name) is read with openpyxl in read-only
mode: the first sheet, its first row the column names, cells as the values Excel last
computed. Anything else (an old ``.xls``, a PDF, a zip, binary data, an empty file, a cell over
csv's field limit, a sheet too large to be a recipient list) is ``UnreadableFile`` saying what to
do, never a crash.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import gettext as _

from webapp.core.errors import KabarError
from webapp.intake.bulk import MAX_RECIPIENTS

MAX_ROWS = MAX_RECIPIENTS
MAX_COLUMNS = 200
# Rows a sheet may have, blank ones included, before it is no recipient list: a sheet whose
# last cell sits a million rows down would otherwise be walked row by empty row.
MAX_SCANNED_ROWS = 2 * MAX_ROWS
# What an .xlsx may unpack to: a 10 MB upload can hold gigabytes of repeated strings.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
DELIMITERS = (",", ";", "\t")
# C0 controls other than tab, line feed, form feed and carriage return, and DEL: text never
# holds them, binary data decoded as Windows-1252 always does.
BINARY = frozenset(chr(c) for c in (*range(0, 9), 11, *range(14, 32), 127))


class UnreadableFile(KabarError):
    """A file that holds no table Kabar can read; the message says what to do instead."""

    status = 422
    code = "unreadable_file"

    def __init__(self, problem: str, *, advise: bool = True) -> None:
        """``advise``: the file is of a kind Kabar cannot read, so say which kinds it can."""
        advice = " " + _("Save it as CSV UTF-8 or .xlsx and upload it again.") if advise else ""
        super().__init__(problem + advice, field="file")


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]  # as wide as ``columns``, blank rows left out


def read(raw: bytes) -> Table:
    """The columns and rows of an uploaded CSV or .xlsx file (see the module's docstring)."""
    if not raw.strip():
        raise UnreadableFile(_("The file is empty."))
    if raw.startswith(b"PK\x03\x04"):
        return _table(_xlsx_rows(raw))
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFile(
            _("This is an Excel 97-2003 workbook (.xls), which Kabar cannot read.")
        )
    if raw.startswith(b"%PDF"):
        raise UnreadableFile(_("This is a PDF, not a table."))
    return _table(_csv_rows(_decode(raw)))


def _decode(raw: bytes) -> str:
    if b"\x00" in raw:
        raise UnreadableFile(_("This file holds binary data, not text."))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise UnreadableFile(_("This file is neither UTF-8 nor Windows-1252 text.")) from None
    if not BINARY.isdisjoint(text):
        raise UnreadableFile(_("This file holds binary data, not text."))
    return text


def _csv_rows(text: str) -> list[list[str]]:
    header = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=header.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for row in reader:
            if _blank(row):
                continue
            rows.append(row)
            if len(rows) > MAX_ROWS + 1:  # enough to say it is too many
                break
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            problem = _(
                "A field of the CSV is over %(kib)s KiB (perhaps a quote that is never closed).",
                kib=csv.field_size_limit() // 1024,
            )
        else:
            problem = _(
                "The CSV cannot be read (line %(line)s: %(error)s).",
                line=reader.line_num,
                error=str(exc),
            )
        raise UnreadableFile(problem) from exc
    return rows


def _xlsx_rows(raw: bytes) -> list[list[str]]:
    import openpyxl  # only an upload of a workbook needs it

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = archive.namelist()
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise UnreadableFile(_("The .xlsx workbook is damaged.")) from exc
    if "xl/workbook.xml" not in names:
        raise UnreadableFile(_("This is a zip archive, not an Excel workbook (.xlsx)."))
    if unpacked > MAX_UNPACKED_BYTES:
        raise UnreadableFile(
            _(
                "The workbook unpacks to over %(mb)s MB; that is no list of recipients.",
                mb=MAX_UNPACKED_BYTES // 2**20,
            )
        )
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises anything from KeyError to XML errors
        raise UnreadableFile(_("The .xlsx workbook is damaged.")) from exc
    try:
        if not workbook.worksheets:
            raise UnreadableFile(_("The workbook has no sheet."))
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers store wrong ones; read what is there
        rows = []
        for scanned, values in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)):
            if scanned >= MAX_SCANNED_ROWS or len(rows) > MAX_ROWS:
                raise UnreadableFile(_too_many_rows(), advise=False)
            row = [_cell(value) for value in values]
            if not _blank(row):
                rows.append(row)
    except UnreadableFile:
        raise
    except Exception as exc:
        raise UnreadableFile(_("The .xlsx workbook is damaged.")) from exc
    finally:
        workbook.close()
    return rows


def _cell(value: object) -> str:
    """A cell as the text it shows: 6281234567890 (a number, not 6.28e12), 2026-12-10."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _too_many_rows() -> str:
    return _(
        "At most %(limit)s recipients per bulk send; this file has more.",
        limit=f"{MAX_ROWS:,}",
    )


def _blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


def _table(rows: list[list[str]]) -> Table:
    """Columns from the first row, the others its data; ``rows`` holds no blank row."""
    if not rows:
        raise UnreadableFile(_("The file is empty."))
    header = rows[0]
    while header and not header[-1].strip():  # a sheet's formatted but empty columns
        header = header[:-1]
    columns = [name.strip() or f"kolom_{n + 1}" for n, name in enumerate(header)]
    if len(columns) > MAX_COLUMNS:
        raise UnreadableFile(_("The file has over %(num)s columns.", num=MAX_COLUMNS), advise=False)
    if len(set(columns)) != len(columns):
        raise UnreadableFile(_("Column names must be distinct."), advise=False)
    data = rows[1:]
    if not data:
        raise UnreadableFile(_("The file has no data rows, only column names."), advise=False)
    if len(data) > MAX_ROWS:
        raise UnreadableFile(_too_many_rows(), advise=False)
    width = len(columns)
    return Table(columns, [(row + [""] * width)[:width] for row in data])
