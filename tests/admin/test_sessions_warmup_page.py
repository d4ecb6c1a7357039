"""The warm-up on the admin sessions page: its day and allowance, and the control to end or
start it (through the Flask test client, no session host running)."""

from __future__ import annotations

import re

import pytest

from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from webapp.extensions import db
from webapp.models import WhatsAppSession, utcnow
from workers.pipeline import routing, sessions


@pytest.fixture
def warming(app):
    """session-1 on day 1 of its warm-up, with 3 sends today."""
    with app.app_context():
        sessions.create_session("WA-1", 1, "simulator")
        db.session.execute(db.update(WhatsAppSession).values(warmup_started_at=utcnow()))
        db.session.commit()
        routing.record_success("session-1", 3)


def token(client) -> str:
    page = client.get("/admin/sessions").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def card(page: str) -> str:
    return page.split('data-session="session-1"')[1].split("</section>")[0]


def started_at(app):
    with app.app_context():
        return db.session.scalar(db.select(WhatsAppSession.warmup_started_at))


def test_the_page_shows_the_day_and_what_is_left_of_its_allowance(logged_in, warming):
    shown = card(logged_in.get("/admin/sessions").get_data(as_text=True))
    assert re.search(r'data-field="warmupBox"\s*>', shown)  # not hidden
    assert '<span data-field="warmupDay">1</span>' in shown
    assert '<span data-field="warmupSent">3</span>' in shown
    assert '<span data-field="warmupAllowance">20</span>' in shown
    assert 'name="warmup" value="false"' in shown
    polled = logged_in.get("/admin/sessions/status.json").get_json()["sessions"][0]
    assert polled["warmup"] == {"day": 1, "allowance": 20, "sentToday": 3}


def test_ending_and_starting_the_warm_up_from_the_page(app, logged_in, warming):
    r = logged_in.post(
        "/admin/sessions/session-1/warmup", data={"warmup": "false", "csrf_token": token(logged_in)}
    )
    assert r.status_code == 302 and started_at(app) is None
    shown = card(logged_in.get("/admin/sessions").get_data(as_text=True))
    assert re.search(r'data-field="warmupBox"\s+hidden', shown)
    assert 'name="warmup" value="true"' in shown

    r = logged_in.post(
        "/admin/sessions/session-1/warmup", data={"warmup": "true", "csrf_token": token(logged_in)}
    )
    assert r.status_code == 302 and started_at(app) is not None


@pytest.mark.parametrize("data", [{"warmup": "kadang"}, {}])
def test_a_bad_warm_up_form_is_an_error_on_the_page(app, logged_in, warming, data):
    before = started_at(app)
    r = logged_in.post(
        "/admin/sessions/session-1/warmup", data={**data, "csrf_token": token(logged_in)}
    )
    assert r.status_code == 400
    assert 'role="alert"' in card(r.get_data(as_text=True))
    assert started_at(app) == before


def test_warm_up_of_an_unknown_session_is_a_404_page(logged_in, warming):
    r = logged_in.post(
        "/admin/sessions/session-9/warmup", data={"warmup": "false", "csrf_token": token(logged_in)}
    )
    assert r.status_code == 404 and 'role="alert"' in r.get_data(as_text=True)


@pytest.mark.parametrize(("ticked", "chosen"), [({"warmup": "true"}, True), ({}, False)])
def test_the_add_form_asks_whether_the_number_is_new(logged_in, app, ticked, chosen):
    page = logged_in.get("/admin/sessions").get_data(as_text=True)
    assert "Nomor baru? Pemanasan 7 hari" in page and 'name="warmup" value="true"' in page
    r = logged_in.post(
        "/admin/sessions",
        data={
            "deviceId": "WA-9",
            "transport": "simulator",
            **ticked,
            "csrf_token": token(logged_in),
        },
    )
    assert r.status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(WhatsAppSession.warmup_on_link)) is chosen
