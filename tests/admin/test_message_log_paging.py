"""The message log on a big table: pages found by their neighbour's id, counts that say
"about" past the exact limit, a number found by its last digits, the day's dashboard."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from webapp.extensions import db
from webapp.intake import reports
from webapp.models import WhatsAppMessage

NEXT = re.compile(r'<a href="([^"]+)">berikutnya →</a>')
PREVIOUS = re.compile(r'<a href="([^"]+)">← sebelumnya</a>')
ROW_ID = re.compile(r'<tr><td><a href="/admin/messages/(\d+)">')


def add_messages(app, count: int, **values) -> list[int]:
    with app.app_context():
        rows = [
            WhatsAppMessage(to_number=f"62812{n:08d}", content="x", **{"status": "read", **values})
            for n in range(count)
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def shown(page: str) -> list[int]:
    return [int(i) for i in ROW_ID.findall(page)]


def link(pattern: re.Pattern, page: str) -> str | None:
    found = pattern.search(page)
    return html.unescape(found.group(1)) if found else None


def test_the_next_and_previous_links_walk_every_message_once(app, logged_in):
    ids = add_messages(app, 2 * reports.PAGE_SIZE + 7)
    pages, page = [], logged_in.get("/admin/messages").get_data(as_text=True)
    while True:
        pages.append(shown(page))
        if (following := link(NEXT, page)) is None:
            break
        assert "before=" in following and f"page={len(pages) + 1}" in following
        page = logged_in.get(following).get_data(as_text=True)
    assert [i for p in pages for i in p] == sorted(ids, reverse=True)
    assert [len(p) for p in pages] == [50, 50, 7]
    assert "halaman 3 dari 3" in page
    back = []
    while (preceding := link(PREVIOUS, page)) is not None:
        assert "after=" in preceding
        page = logged_in.get(preceding).get_data(as_text=True)
        back.append(shown(page))
    assert back == [pages[1], pages[0]]
    assert "halaman 1 dari 3" in page


def test_a_page_number_of_an_old_link_still_shows_that_page(app, logged_in):
    ids = sorted(add_messages(app, 60), reverse=True)
    page = logged_in.get("/admin/messages?page=2").get_data(as_text=True)
    assert shown(page) == ids[50:]
    beyond = logged_in.get("/admin/messages?page=9").get_data(as_text=True)
    assert shown(beyond) == ids[50:]  # past the end: the last page


def test_a_new_message_does_not_shift_the_next_page(app, logged_in):
    add_messages(app, 60)
    first = logged_in.get("/admin/messages").get_data(as_text=True)
    second_before = shown(logged_in.get(link(NEXT, first)).get_data(as_text=True))
    add_messages(app, 3)
    assert shown(logged_in.get(link(NEXT, first)).get_data(as_text=True)) == second_before


def test_past_the_exact_limit_the_count_says_about(app, logged_in, monkeypatch):
    add_messages(app, 60)
    add_messages(app, 2, status="failed")
    monkeypatch.setattr(reports, "COUNT_EXACTLY", 10)
    with app.app_context():
        db.session.execute(db.text("ANALYZE whatsapp_messages"))
        db.session.commit()
    page = logged_in.get("/admin/messages").get_data(as_text=True)
    assert re.search(r'<small class="muted">sekitar [\d,]+</small>', page), page
    assert re.search(r"halaman 1 dari sekitar \d+", page)
    assert link(NEXT, page)
    failed = logged_in.get("/admin/messages?status=failed").get_data(as_text=True)
    assert '<small class="muted">2</small>' in failed and "sekitar" not in failed


@pytest.mark.parametrize("typed", ["7890", "567890", "0812-3456-7890", "+62 812 3456 7890"])
def test_a_number_is_found_by_its_last_digits_or_in_full(app, logged_in, typed):
    with app.app_context():
        for number in ("6281234567890", "6285700007890", "6281234567891", "6281278905555"):
            db.session.add(WhatsAppMessage(to_number=number, content="x", status="sent"))
        db.session.commit()
    page = logged_in.get("/admin/messages", query_string={"number": typed}).get_data(as_text=True)
    found = set(re.findall(r"<td>(628\d+)</td>", page))
    if typed == "7890":
        assert found == {"6281234567890", "6285700007890"}
    else:
        assert found == {"6281234567890"}


def test_the_log_of_a_day_shows_that_days_messages_only(app, logged_in):
    today = reports.today
    with app.app_context():
        day = today() - timedelta(days=3)
        start, _ = reports.day_bounds(day)
    earlier = add_messages(app, 3, created_at=start - timedelta(minutes=1))
    within = add_messages(app, 4, created_at=start + timedelta(hours=5))
    later = add_messages(app, 2, created_at=start + timedelta(days=1))
    typed = day.strftime("%d-%m-%Y")
    page = logged_in.get(f"/admin/messages?since={typed}&until={typed}").get_data(as_text=True)
    assert shown(page) == sorted(within, reverse=True)
    assert not set(shown(page)) & set(earlier + later)
    since = logged_in.get(f"/admin/messages?since={typed}").get_data(as_text=True)
    assert set(shown(since)) == set(within + later)


def test_the_dashboard_counts_the_days_messages_by_hour_status_and_number(app, logged_in):
    with app.app_context():
        start, _ = reports.day_bounds(reports.today())
    at_nine = start + timedelta(hours=9, minutes=30)  # 09:30 in the operator's zone
    sent = at_nine + timedelta(seconds=1)
    add_messages(app, 3, created_at=at_nine, session_id=None, sent_at=sent,
                 delivered_at=sent + timedelta(seconds=4))  # fmt: skip
    add_messages(app, 1, created_at=at_nine, status="failed")
    add_messages(app, 2, created_at=start - timedelta(hours=1))  # the day before
    page = logged_in.get("/admin/").get_data(as_text=True)
    figures = {label: figure for figure, label in
               re.findall(r"<strong>([^<]+)</strong><span>([^<]+)</span>", page)}  # fmt: skip
    assert (figures["terkirim"], figures["dibaca"], figures["gagal"]) == ("3", "3", "1")
    assert "4.0 s" in figures.values()
    assert re.search(r"<title>09:00 [^<]+ 3</title>", page), page
    assert re.search(r"<title>09:00 [^<]+ 1</title>", page)
    assert "100% (3)" in page  # the share per number: all three went out unassigned ("—")


def test_the_log_and_the_dashboard_work_on_sqlite(tmp_path):
    """The newcomer's database has none of PostgreSQL's indexes or functions: the same pages
    answer from plain SQL."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.intake import admins

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'kabar.db'}",
                      "TESTING": True, "WTF_CSRF_ENABLED": False})  # fmt: skip
    with app.app_context():
        upgrade()
        admins.create_admin("ops@example.com", "correct horse battery")
        start, _ = reports.day_bounds(reports.today())
        at_nine = start + timedelta(hours=9, minutes=30)
        delivered = at_nine + timedelta(seconds=2)
        for number in ("6281234567890", "6285700007890", "6281234567891"):
            db.session.add(
                WhatsAppMessage(to_number=number, content="x", status="delivered",
                                created_at=at_nine, sent_at=at_nine, delivered_at=delivered)
            )  # fmt: skip
        # On the hour exactly: that hour's, not the one before.
        db.session.add(WhatsAppMessage(to_number="6281200000000", content="x", status="delivered",
                                       created_at=start + timedelta(hours=10)))  # fmt: skip
        db.session.commit()
    client = app.test_client()
    client.post("/admin/login", data={"email": "ops@example.com",
                                      "password": "correct horse battery"})  # fmt: skip
    page = client.get("/admin/messages?number=7890").get_data(as_text=True)
    assert set(re.findall(r"<td>(628\d+)</td>", page)) == {"6281234567890", "6285700007890"}
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert re.search(r"<title>09:00 [^<]+ 3</title>", dashboard), dashboard
    assert re.search(r"<title>10:00 [^<]+ 1</title>", dashboard)
    assert "2.0 s" in dashboard


def test_a_page_number_past_any_count_shows_the_last_page(app, logged_in, monkeypatch):
    """A page= typed by hand on a counted-about log: the last page, not a database error."""
    ids = sorted(add_messages(app, 60), reverse=True)
    monkeypatch.setattr(reports, "COUNT_EXACTLY", 10)
    with app.app_context():
        db.session.execute(db.text("ANALYZE whatsapp_messages"))
        db.session.commit()
    response = logged_in.get(f"/admin/messages?page={10**18}")
    assert response.status_code == 200
    assert shown(response.get_data(as_text=True)) == ids[50:]


def test_going_back_to_the_top_shows_the_messages_that_came_meanwhile(app, logged_in):
    """Previous from page 2 after new messages came: not a 'page 1' without them and without
    a way up, but a link on to the newest."""
    add_messages(app, 100)
    second = logged_in.get(link(NEXT, logged_in.get("/admin/messages").get_data(as_text=True)))
    newer = add_messages(app, 3)
    back = logged_in.get(link(PREVIOUS, second.get_data(as_text=True))).get_data(as_text=True)
    top = link(PREVIOUS, back)
    assert top, "no way up to the messages that came meanwhile"
    first = logged_in.get(top).get_data(as_text=True)
    assert shown(first)[:3] == sorted(newer, reverse=True) and len(shown(first)) == 50
    assert link(PREVIOUS, first) is None and "halaman 1 dari 3" in first
