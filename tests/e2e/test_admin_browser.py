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
from webapp.services import admins
from workers import broker

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

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
    page.fill("#send input[name=text]", "Tagihan Anda sudah lunas. Terima kasih!")
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
    refused = page.request.post(f"{server}/admin/messages/send",
                                form={"to": "081234567890", "text": "x"})
    assert refused.status == 400


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
    quiet = page.locator("form", has=page.locator("#s-quiet_hours"))
    page.fill("#s-quiet_hours", "25:00-07:00")
    quiet.locator("button[type=submit]").click()
    page.wait_for_selector(".error")  # the bad value comes back as a form error, kept
    assert page.input_value("#s-quiet_hours") == "25:00-07:00"
    shot(page, "settings-error")
    page.fill("#s-quiet_hours", "21:00-07:00")
    quiet.locator("button[type=submit]").click()
    page.wait_for_selector(".flash")
    assert page.input_value("#s-quiet_hours") == "21:00-07:00"
    shot(page, "settings")

    page.click("button[lang=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.locator("nav").inner_text().count("Settings") == 1
    shot(page, "settings-en")


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

    broker.enqueue("send_bulk", broker.BULK, 4242)  # a job: its forms carry the token
    page.goto(f"{server}/admin/dramatiq/queues/bulk")
    page.wait_for_selector("text=send_bulk")
    assert page.evaluate("window.pwned") is None and dialogs == []
    assert page.locator("script").count() == 0
    # The dashboard made itself a sound cookie in place of the planted one, and its forms work.
    (cookie,) = [c for c in context.cookies() if c["name"] == "__dd_csrf"]
    assert len(cookie["value"]) == 64 and cookie["value"] != planted
    context.close()
