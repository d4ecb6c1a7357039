"""The admin console in a real browser (Debian's chromium driven by Playwright) against the
app served over HTTP on localhost, with the real session host and workers behind it."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.polling import wait_for
from webapp.intake import admins
from workers.queue import broker
from workers.queue.contracts import Band

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="chromium is not installed (apt-get install chromium); CI installs it",
)


@pytest.fixture
def server(app):
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_an_operator_links_a_number_and_sees_a_message_delivered(
    app, server, browser, kabar_processes
):
    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
    page = browser.new_page()
    page.goto(f"{server}/admin/")
    page.fill("#email", "ops@example.com")
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server}/admin/")
    shot(page, "dashboard-empty")

    page.goto(f"{server}/admin/sessions")
    page.fill("input[name=deviceId]", "WA-1")
    page.fill("input[name=priority]", "1")
    page.select_option("select[name=transport]", "simulator")
    page.click("text=Buat sesi")
    page.wait_for_selector("img[src^='data:image/png']", timeout=20_000)  # the live QR
    shot(page, "sessions-qr")
    page.click("text=Scan QR (simulasi)")
    page.wait_for_selector("text=Terhubung", timeout=20_000)
    shot(page, "sessions-connected")

    page.goto(f"{server}/admin/messages")
    page.fill("#send input[name=to]", "0812-3456-7890")
    page.fill("#send textarea[name=text]", "Tagihan Anda sudah lunas. Terima kasih!")
    page.click("#send button[type=submit]")
    page.wait_for_selector("text=masuk antrean")

    def delivered_on_dashboard():
        page.goto(f"{server}/admin/")
        figures = page.locator(".figure").all_inner_texts()
        return any(f.startswith("1") and "diterima" in f for f in figures)

    wait_for(delivered_on_dashboard, timeout=30, interval=0.5)
    shot(page, "dashboard-delivered")
    page.goto(f"{server}/admin/queue")
    shot(page, "queue")

    # A form posted without its CSRF token is refused.
    refused = page.request.post(
        f"{server}/admin/messages/send", form={"to": "081234567890", "text": "x"}
    )
    assert refused.status == 400


def test_an_operator_uploads_an_xls_then_the_xlsx_the_page_asks_for(app, server, browser, tmp_path):
    import openpyxl

    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
    old = tmp_path / "pelanggan.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    book = openpyxl.Workbook()
    book.active.append(["No WA", "Nama", "voucher_code"])
    book.active.append(["0812-0000-0001", "Dedi “Jum’at”", "HS-1"])
    new = tmp_path / "pelanggan.xlsx"
    book.save(new)
    page = browser.new_page()
    page.goto(f"{server}/admin/bulk")
    page.fill("#email", "ops@example.com")
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server}/admin/bulk")

    page.set_input_files("input[name=csv]", str(old))
    page.click("form[action$='/bulk/upload'] button[type=submit]")
    error = page.locator("#upload-error")
    error.wait_for()
    assert "(.xls)" in error.inner_text()
    assert "Simpan sebagai CSV UTF-8 atau .xlsx" in error.inner_text()
    shot(page, "bulk-upload-refused")

    page.set_input_files("input[name=csv]", str(new))
    page.click("form[action$='/bulk/upload'] button[type=submit]")
    page.wait_for_url("**/admin/bulk/new/**")
    assert "pelanggan.xlsx" in page.content() and "Dedi “Jum’at”" in page.content()
    shot(page, "bulk-upload-xlsx")


def test_an_operator_changes_a_setting_and_reads_the_console_in_english(app, server, browser):
    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
    page = browser.new_page()
    page.goto(f"{server}/admin/")
    page.fill("#email", "ops@example.com")
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server}/admin/")

    page.click("text=Pengaturan")
    quiet = page.locator("#quiet button[name=group]")
    page.fill("#s-quiet_hours", "25:00-07:00")
    quiet.click()
    page.wait_for_selector(".error")  # the bad value comes back as a form error, kept
    assert page.input_value("#s-quiet_hours") == "25:00-07:00"
    shot(page, "settings-error")
    page.fill("#s-quiet_hours", "21:00-07:00")
    quiet.click()
    page.wait_for_selector("#quiet .saved-note")
    assert page.input_value("#s-quiet_hours") == "21:00-07:00"
    shot(page, "settings")

    page.click("button[lang=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.locator("nav").inner_text().count("Settings") == 1
    shot(page, "settings-en")


def log_in(app, server, browser):
    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
    return submit_login(browser.new_page(viewport={"width": 1280, "height": 900}), server)


def submit_login(page, server):
    page.goto(f"{server}/admin/")
    page.fill("#email", "ops@example.com")
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server}/admin/")
    return page


def in_view(page, selector: str) -> bool:
    """Whether the element is inside the window as the operator sees it (not only in the page)."""
    return page.locator(selector).evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return r.bottom > 0 && r.top < window.innerHeight; }"
    )


def test_saving_one_settings_section_keeps_the_edits_of_the_others(app, server, browser):
    page = log_in(app, server, browser)
    page.goto(f"{server}/admin/settings")
    page.fill("#s-quiet_hours", "22:00-06:00")
    page.fill("#s-retention_messages_days", "30")
    page.fill("#s-typing_ms", "-1")  # refused: the page comes back with every edit kept
    page.locator("#retention button[name=group]").click()
    page.wait_for_selector("#deliverability .error")
    assert page.input_value("#s-quiet_hours") == "22:00-06:00"
    assert page.input_value("#s-retention_messages_days") == "30"
    assert page.input_value("#s-typing_ms") == "-1"
    shot(page, "settings-one-form-error")
    page.fill("#s-typing_ms", "0")
    page.locator("#retention button[name=group]").click()
    page.wait_for_selector("#retention .saved-note")
    assert page.url.endswith("/admin/settings#retention")
    page.wait_for_load_state("load")  # the browser scrolls to the section once loaded
    assert in_view(page, "#retention .saved-note")  # the result is where the button was
    assert page.locator("#quiet .saved-note").inner_text() == "Jam tenang: disimpan."
    assert page.input_value("#s-quiet_hours") == "22:00-06:00"
    assert page.input_value("#s-retention_messages_days") == "30"
    shot(page, "settings-one-form-saved")


def test_a_refused_send_keeps_its_text_and_shows_no_date_error(app, server, browser):
    page = log_in(app, server, browser)
    page.goto(f"{server}/admin/messages")
    text = "Halo Budi,\nTagihan Anda Rp150.000 jatuh tempo 10-12-2026."
    page.fill("#send input[name=to]", "0812")
    page.fill("#send textarea[name=text]", text)
    page.click("#send button[type=submit]")
    page.wait_for_selector("#send .field-error")
    assert page.input_value("#send textarea[name=text]") == text
    assert page.input_value("#send input[name=to]") == "0812"
    assert "tanggal" not in page.locator("main").inner_text()
    # A template swaps the text box for its data, prefilled with the template's variables.
    page.select_option("#send-template", "voucher_activated")
    assert page.locator("#send-text").is_hidden()
    assert '"voucher_code"' in page.input_value("#send textarea[name=send_data]")
    shot(page, "messages-send-error")


def test_a_bulk_card_shows_its_failed_part_in_red_and_resends_it(app, server, browser):
    from tests.admin.test_bulk_cards import numbers
    from webapp.extensions import db
    from webapp.intake import bulk
    from webapp.models import WhatsAppMessage

    page = log_in(app, server, browser)
    with app.app_context():
        job = bulk.submit(
            bulk.parse_request(
                {
                    "recipients": [
                        {"whatsapp": n, "data": {"voucher_code": "V"}} for n in numbers(10)
                    ],
                    "template": "voucher_activated",
                    "templateData": {"duration": "30 hari", "expiry_time": "31-12-2026"},
                }
            )
        )
        bulk.expand(job.id)
        rows = list(db.session.scalars(db.select(WhatsAppMessage).order_by(WhatsAppMessage.id)))
        for row in rows[:5]:
            row.status = "delivered"
        for row in rows[5:8]:
            row.status, row.error_message = "failed", "WhatsApp refused the message (479)"
        for row in rows[8:]:
            row.held_reason = "daily_cap"
        db.session.commit()
        job_id = job.job_id
    page.goto(f"{server}/admin/bulk")
    card = page.locator(f'[data-job="{job_id}"]')
    failed_bar = card.locator('[data-bar="failed"]')
    assert failed_bar.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(176, 0, 32)"
    share = failed_bar.bounding_box()["width"] / card.locator(".bar").bounding_box()["width"]
    assert round(share, 2) == 0.3  # 3 of 10 rows failed
    held = card.locator('[data-bar="held"]').evaluate("el => getComputedStyle(el).backgroundColor")
    assert held not in ("rgb(176, 0, 32)", "rgb(11, 110, 79)")
    assert "selesai" not in card.inner_text()
    shot(page, "bulk-card")
    page.on("dialog", lambda dialog: dialog.accept())
    card.locator("text=Kirim ulang semua yang gagal").click()
    page.wait_for_selector("text=3 pesan gagal masuk antrean lagi")
    with app.app_context():
        failed = db.select(db.func.count()).where(WhatsAppMessage.status == "failed")
        assert db.session.scalar(failed) == 0
    card.locator("text=Lihat pesannya").click()
    page.wait_for_selector(f"text=Pesan dari kirim massal {job_id}")
    shot(page, "bulk-card-rows")


def test_a_numbers_raw_error_reads_in_indonesian_with_the_go_error_behind_detail(
    app, server, browser
):
    """The sessions page's live update (its script) shows a new last error translated, and the
    raw error of WhatsApp's library only once "detail" is opened."""
    from webapp.extensions import db
    from webapp.models import WhatsAppSession
    from workers.pipeline import sessions

    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
        sessions.create_session("WA-1", 1, "neonize")
    page = browser.new_page()
    page.goto(f"{server}/admin/sessions")
    page.fill("#email", "ops@example.com")
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_selector("[data-session=session-1]")
    card = page.locator("[data-session=session-1]")
    assert card.locator("[data-field=lastErrorBox]").is_hidden()

    raw = "the WhatsApp client of this number crashed: fatal error: concurrent map writes"
    with app.app_context():
        row = db.session.scalar(db.select(WhatsAppSession))
        row.status, row.last_error = "connecting", raw
        db.session.commit()
    shown = card.locator("[data-field=lastError]")
    wait_for(lambda: "mogok" in shown.inner_text(), timeout=10, interval=0.3)
    assert shown.inner_text() == "klien WhatsApp nomor ini mogok; Kabar menjalankannya lagi"
    assert card.locator("[data-field=status]").inner_text() == "Menghubungkan"
    detail = card.locator("[data-field=lastErrorDetail]")
    assert not detail.is_visible()
    card.locator("[data-field=lastErrorBox] summary").click()
    assert detail.inner_text() == "fatal error: concurrent map writes"
    shot(page, "session-error-detail")


def test_a_planted_dashboard_cookie_runs_no_script(app, server, browser):
    """dramatiq_dashboard 0.4.0 copies its CSRF cookie into the page unescaped: a cookie planted
    for the admin origin (by a sibling subdomain, say) must not become script there."""
    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
    context = browser.new_context()
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server}/admin/")
    page.fill("#email", "ops@example.com")
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server}/admin/")
    planted = '"><script>window.pwned=1,alert(document.domain)</script><b>'
    # Set the way a page of the same site would (the browser's protocol refuses such a value).
    page.evaluate("value => { document.cookie = '__dd_csrf=' + value + '; path=/'; }", planted)
    assert planted in page.evaluate("document.cookie")

    broker.enqueue("send_bulk", Band.BULK, 4242)  # a job: its forms carry the token
    page.goto(f"{server}/admin/dramatiq/queues/bulk")
    page.wait_for_selector("text=send_bulk")
    assert page.evaluate("window.pwned") is None and dialogs == []
    assert page.locator("script").count() == 0
    # The dashboard made itself a sound cookie in place of the planted one, and its forms work.
    (cookie,) = [c for c in context.cookies() if c["name"] == "__dd_csrf"]
    assert len(cookie["value"]) == 64 and cookie["value"] != planted
    context.close()


def test_an_admin_changes_their_password_and_their_other_browser_is_logged_out(
    app, server, browser
):
    page = log_in(app, server, browser)
    other = submit_login(browser.new_context().new_page(), server)  # a second browser

    page.click("header a[href='/admin/password']")
    page.fill("#current_password", "correct horse battery")
    page.fill("#new_password", "a brand new password")
    page.fill("#new_password_again", "a brand new password")
    page.click("main button[type=submit]")
    page.wait_for_selector("main .flash")
    assert "browser ini tetap masuk" in page.locator("main .flash").inner_text()
    shot(page, "password-changed")
    page.click("nav a[href='/admin/messages']")
    assert page.url == f"{server}/admin/messages"  # still logged in here

    other.reload()
    assert "/admin/login" in other.url  # the other browser's login has ended


def test_a_page_open_while_the_database_is_down_comes_back_by_itself(app, browser):
    """The 503 page reloads itself: once PostgreSQL answers again, the page is there."""
    from tests.outage import through
    from webapp import create_app
    from webapp.extensions import db

    pg, pg_url = through(app.config["SQLALCHEMY_DATABASE_URI"], 5432)
    proxied = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": pg_url})
    http = make_server("127.0.0.1", 0, proxied, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        page = log_in(app, f"http://127.0.0.1:{http.server_port}", browser)
        pg.cut()
        page.click("nav a[href='/admin/messages']")
        page.wait_for_selector("[data-down=database]")
        assert "tidak ada yang hilang" in page.locator("main").inner_text()
        shot(page, "database-down")
        pg.restore()
        page.wait_for_selector("nav a[aria-current=page][href='/admin/messages']", timeout=25_000)
    finally:
        http.shutdown()
        pg.cut()
        with proxied.app_context():
            db.engine.dispose()
