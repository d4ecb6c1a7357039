"""The admin console's languages (Indonesian by default, English on request) and its layout's
assets, which are served by Kabar itself because many operators' servers have no internet."""

from __future__ import annotations

import gettext
import html
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "webapp" / "translations" / "id" / "LC_MESSAGES" / "messages.po"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def token(client, path: str = "/admin/login") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def switch(client, language: str, next_path: str = "/admin/", path: str = "/admin/"):
    """Press a language button in the header of ``path``."""
    return client.post(
        "/admin/language",
        data={"language": language, "next": next_path, "csrf_token": token(client, path)},
    )


def lang(page: str) -> str:
    return re.search(r'<html lang="([^"]+)"', page).group(1)


def catalogue():
    with PO.open("rb") as fh:
        return read_po(fh, locale="id")


# choosing the language ---------------------------------------------------------------------------


def test_the_console_is_in_indonesian_by_default(client, logged_in):
    login = client.get("/admin/login").get_data(as_text=True)
    assert lang(login) == "id" and "Kata sandi" in login
    page = logged_in.get("/admin/").get_data(as_text=True)
    assert lang(page) == "id"
    for label in ("Dasbor", "Sesi", "Pesan", "Antrean", "Kunci API", "Pemicu", "Kirim massal"):
        assert f">{label}</a>" in page
    assert "Bahasa Indonesia" in page and "English" in page  # the switch itself


def test_switching_to_english_and_back(logged_in):
    r = switch(logged_in, "en", next_path="/admin/messages?status=failed")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/messages?status=failed"
    page = logged_in.get("/admin/messages").get_data(as_text=True)
    assert lang(page) == "en" and ">Dashboard</a>" in page and ">Bulk sends</a>" in page
    assert ">Search</button>" in page and "Kirim massal" not in page
    assert switch(logged_in, "id").status_code == 302
    page = logged_in.get("/admin/messages").get_data(as_text=True)
    assert lang(page) == "id" and ">Kirim massal</a>" in page and "Cari" in page


def test_form_errors_follow_the_language(logged_in):
    blank = {"name": " ", "csrf_token": logged_in.csrf}
    assert "nama: 1–100 karakter" in logged_in.post("/admin/api-keys", data=blank).get_data(
        as_text=True
    )
    switch(logged_in, "en")
    assert "name: 1–100 characters" in logged_in.post("/admin/api-keys", data=blank).get_data(
        as_text=True
    )
    page = logged_in.get("/admin/overview?date=yesterday").get_data(as_text=True)
    assert "yesterday&#39; is not a date (dd-mm-yyyy)" in page


def test_the_language_picked_on_the_login_page_survives_logging_in_and_out(logged_in):
    client = logged_in
    r = client.post("/admin/logout", data={"csrf_token": client.csrf}, follow_redirects=True)
    assert "Anda telah keluar." in r.get_data(as_text=True)
    r = switch(client, "en", next_path="/admin/login", path="/admin/login")
    assert r.headers["Location"] == "/admin/login"
    r = client.post(
        "/admin/login",
        data={
            "email": "ops@example.com",
            "password": "correct horse battery",
            "csrf_token": token(client),
        },
    )
    assert r.status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert lang(page) == "en" and ">Log out</button>" in page
    r = client.post(
        "/admin/logout", data={"csrf_token": token(client, "/admin/")}, follow_redirects=True
    )
    assert "You are logged out." in r.get_data(as_text=True)


def test_an_unknown_language_is_refused_with_a_message(logged_in):
    r = switch(logged_in, "fr")
    assert r.status_code == 302
    page = logged_in.get(r.headers["Location"]).get_data(as_text=True)
    assert lang(page) == "id"
    assert 'role="alert">Bahasa tidak dikenal' in page


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/login",
        "//evil.example/admin/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "admin/",
        "",
    ],
)
def test_the_switch_never_redirects_to_another_site(logged_in, next_path):
    r = switch(logged_in, "en", next_path=next_path)
    assert r.status_code == 302 and r.headers["Location"] == "/admin/"


def test_the_switch_needs_the_csrf_token(client):
    r = client.post("/admin/language", data={"language": "en", "next": "/admin/"})
    assert r.status_code == 400
    assert lang(client.get("/admin/login").get_data(as_text=True)) == "id"


def test_the_default_language_is_configurable_and_checked(app):
    from webapp import create_app

    english = create_app({"TESTING": True, "BABEL_DEFAULT_LOCALE": "en"})
    page = english.test_client().get("/admin/login").get_data(as_text=True)
    assert lang(page) == "en" and "Password" in page
    unknown = create_app({"TESTING": True, "BABEL_DEFAULT_LOCALE": "xx"})
    assert unknown.config["BABEL_DEFAULT_LOCALE"] == "id"
    assert lang(unknown.test_client().get("/admin/login").get_data(as_text=True)) == "id"


def test_without_a_compiled_catalogue_the_console_falls_back_to_english(app, tmp_path):
    from webapp import create_app

    bare = create_app({"TESTING": True, "BABEL_TRANSLATION_DIRECTORIES": str(tmp_path)})
    r = bare.test_client().get("/admin/login")
    assert r.status_code == 200 and "Password" in r.get_data(as_text=True)


# the catalogue ---------------------------------------------------------------------------------


def test_every_string_has_an_indonesian_translation():
    untranslated = [
        message.id
        for message in catalogue()
        if message.id
        and not (all(message.string) if message.pluralizable else message.string.strip())
    ]
    assert untranslated == []


def test_the_catalogue_holds_every_string_of_the_console():
    """A string wrapped in _() but missing from the .po would show in English on an Indonesian
    page; webapp/i18n.py says how to refresh the catalogue."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = DEFAULT_KEYWORDS | {"lazy_gettext": None, "_l": None}  # N_ is a default one
    in_source = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)
    }
    in_po = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue()}
    assert sorted(in_source - in_po) == []


def test_the_compiled_catalogue_matches_the_po():
    mo = PO.with_suffix(".mo")
    assert mo.exists(), "compile it: .venv/bin/pybabel compile -d webapp/translations"
    with mo.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    for message in catalogue():
        if not message.id:
            continue
        if message.pluralizable:
            assert compiled.ngettext(*message.id, 1) == (message.string[0] or message.id[0])
        else:
            assert compiled.gettext(message.id) == (message.string or message.id), message.id


# every word on a page -------------------------------------------------------------------------

# Reasons as the worker, the transports and the session host store them.
FAILURE_REASONS = (
    "no connected session could send: session-1: the recipient is not on WhatsApp (no LID "
    "found for 6281234567890 from server); session-2 rests after send errors",
    "WhatsApp did not confirm this message after it was sent: it may have reached the "
    "customer. Resend only if they did not get it",
    "WhatsApp refused a first message to this new contact (error 479)",
    "no session could send",
    "server returned error 500",  # a raw error of whatsmeow
)
SESSION_ERRORS = (
    "logged out from the phone",
    "temporarily banned by WhatsApp: sent messages to too many people",
    "the WhatsApp client of this number crashed: SIGSEGV: segmentation violation",
    "failed to dial whatsapp web websocket: lookup web.whatsapp.com: no such host",
    "health check slow: 6.2 s (limit 5 s)",
    "the QR code was not scanned in time; show a new QR",
    "connection closed by WhatsApp; reconnecting",
)
# English words a status, a band or one of those reasons would leave on an Indonesian page.
# (Not ids such as bulk-3f2a.)
ENGLISH = re.compile(
    r"(?<![\w-])(queued|sent|delivered|read|failed|cancelled|paused|skipped|pending|held|urgent|bulk"
    r"|connected|disconnected|connecting|logged[ _]out|banned|qr_expired|recipient|refused"
    r"|rests|crashed|reached|confirm|could|reconnecting|scanned|slow)(?![\w-])",
    re.IGNORECASE,
)


def visible_text(page: str) -> str:
    """What a reader sees without opening a "detail" toggle: no scripts, styles, tags,
    attributes, or the technical detail kept behind <details>."""
    for hidden in (r"<script.*?</script>", r"<style.*?</style>", r"<details.*?</details>",
                   r"<[^>]+>"):  # fmt: skip
        page = re.sub(hidden, " ", page, flags=re.DOTALL)
    return html.unescape(page)


@pytest.fixture
def every_status(app):
    """Numbers in every state with the errors they report, and messages in every status and
    band with the reasons they failed for."""
    from webapp import labels
    from webapp.extensions import db
    from webapp.intake import messages
    from webapp.models import BulkJob, WhatsAppMessage, WhatsAppSession

    with app.app_context():
        for n, status in enumerate(labels.SESSION, start=1):
            db.session.add(WhatsAppSession(
                session_id=f"session-{n}", device_id=f"WA-{n}", priority=n, transport="neonize",
                status=status, last_error=SESSION_ERRORS[n % len(SESSION_ERRORS)],
            ))  # fmt: skip
        db.session.commit()
        count = len(labels.MESSAGE) + len(FAILURE_REASONS) - 1
        rows = [(f"08123456{n:04d}", f"Halo {n}") for n in range(count)]
        ids = messages.queue_texts(rows)
        statuses = [*labels.MESSAGE, *["failed"] * (len(FAILURE_REASONS) - 1)]
        reasons = iter(FAILURE_REASONS)
        for n, (message_id, status) in enumerate(zip(ids, statuses, strict=True)):
            message = db.session.get(WhatsAppMessage, message_id)
            message.status, message.band = status, tuple(labels.BAND)[n % 3]
            if status == "failed":
                message.error_message = next(reasons)
            if status == "skipped":
                message.error_message = "recipient opted out"
        errors = [
            {"index": 0, "whatsapp": "0812", "field": "whatsapp", "code": "invalid_phone_number",
             "message": "'0812' is not a valid phone number"},
            {"index": 1, "whatsapp": "6281234567890", "field": "whatsapp", "code": "duplicate",
             "message": "6281234567890 is already in this bulk send; sent once"},
        ]  # fmt: skip
        for n, status in enumerate(labels.BULK):
            db.session.add(BulkJob(job_id=f"bulk-{n}", status=status, total=3, expanded=3,
                                   invalid_count=1, duplicate_count=1, errors=errors))  # fmt: skip
        db.session.commit()
        return ids


def test_no_english_status_band_or_reason_is_left_on_an_indonesian_page(logged_in, every_status):
    paths = ["/admin/", "/admin/messages", "/admin/queue", "/admin/sessions", "/admin/bulk"]
    paths += [f"/admin/messages/{message_id}" for message_id in every_status]
    for path in paths:
        r = logged_in.get(path)
        assert r.status_code == 200, path
        text = visible_text(r.get_data(as_text=True))
        left = sorted({m.group(0) for m in ENGLISH.finditer(text)})
        assert left == [], f"{path}: {left}"
    polled = logged_in.get("/admin/sessions/status.json").get_json()["sessions"]
    shown = " ".join(f"{s['statusLabel']} {s['lastError']}" for s in polled)
    assert not ENGLISH.search(shown), shown
    assert {s["status"] for s in polled} >= {"connected", "logged_out"}  # codes stay codes


def test_the_technical_detail_is_behind_a_toggle_and_english_is_one_switch_away(
    logged_in, every_status
):
    page = logged_in.get("/admin/queue").get_data(as_text=True)
    assert "<code>no LID found for 6281234567890 from server</code></details>" in page
    assert "<summary>detail</summary><code>server returned error 500</code>" in page
    sessions = logged_in.get("/admin/sessions").get_data(as_text=True)
    assert "SIGSEGV: segmentation violation</code>" in sessions
    assert "klien WhatsApp nomor ini mogok; Kabar menjalankannya lagi" in sessions
    switch(logged_in, "en")
    page = logged_in.get("/admin/messages").get_data(as_text=True)
    assert ">queued</span>" in page and ">failed</span>" in page
    queue = logged_in.get("/admin/queue").get_data(as_text=True)
    assert "the recipient is not on WhatsApp" in queue and ">urgent</td>" in queue


# the layout's assets ---------------------------------------------------------------------------


def test_the_css_is_served_by_kabar_itself(client):
    for name in ("pico.min.css", "kabar.css"):
        r = client.get(f"/static/css/{name}")
        assert r.status_code == 200 and r.mimetype == "text/css"
        r.close()
    assert (ROOT / "webapp" / "static" / "css" / "pico.LICENSE.md").exists()
    base = (ROOT / "templates" / "base.html").read_text()
    assert not re.search(r"https?://", base)
    page = client.get("/admin/login").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/static/css/pico.min.css">' in page
    assert not re.search(r"(src|href)=\"https?://", page)


def test_the_menu_links_a_page_only_once_it_exists(app, logged_in):
    from flask import render_template_string

    page = logged_in.get("/admin/").get_data(as_text=True)
    assert '<a href="/admin/settings"' in page and ">Pengaturan</a>" in page
    with app.test_request_context():
        shown = render_template_string(
            "{{ has_page('admin.settings_page') }} {{ has_page('x.y') }}"
        )
    assert shown == "True False"


def test_translated_labels_are_escaped_like_any_text(logged_in):
    """Labels made at import are lazy strings, which Jinja would take for safe HTML."""
    page = logged_in.get("/admin/settings").get_data(as_text=True)
    assert "Kabar ISP &lt;noreply@isp.example&gt;" in page
