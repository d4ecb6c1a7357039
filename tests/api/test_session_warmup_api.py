"""The warm-up through the sessions API, and the simulator's list of numbers without WhatsApp."""

from __future__ import annotations

import pytest

from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from workers.session_host.simulated_network import SimulatedNetwork


@pytest.fixture
def session_id(client, auth) -> str:
    r = client.post(
        "/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-1", "transport": "simulator"}
    )
    assert r.status_code == 201
    return r.get_json()["session"]["id"]


def patch(client, auth, session_id, body):
    return client.patch(f"/api/whatsapp/sessions/{session_id}", headers=auth, json=body)


def test_a_new_session_is_not_warming_up_until_it_links_a_number(client, auth, session_id):
    shown = client.get(f"/api/whatsapp/sessions/{session_id}", headers=auth).get_json()
    assert shown["session"]["warmup"] is None and shown["session"]["warmupStartedAt"] is None


def test_warm_up_is_started_and_ended_through_patch(client, auth, session_id):
    r = patch(client, auth, session_id, {"warmup": True, "dailyCap": 500})
    assert r.status_code == 200
    session = r.get_json()["session"]
    # Day 1 of the default schedule; the smaller of it and the daily cap is what routing uses.
    assert session["warmup"] == {"day": 1, "allowance": 20, "sentToday": 0}
    assert session["warmupStartedAt"] and session["dailyCap"] == 500

    listed = client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"]
    assert listed[0]["warmup"]["day"] == 1

    r = patch(client, auth, session_id, {"warmup": False})
    assert r.status_code == 200 and r.get_json()["session"]["warmup"] is None


@pytest.mark.parametrize("value", ["maybe", 7, None, [True]])
def test_warmup_must_be_true_or_false(client, auth, session_id, value):
    r = patch(client, auth, session_id, {"warmup": value})
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert error["code"] == "validation_error" and error["field"] == "warmup"


def test_an_empty_patch_names_warmup_among_what_can_change(client, auth, session_id):
    r = patch(client, auth, session_id, {})
    assert r.status_code == 400 and "warmup" in r.get_json()["error"]["message"]


def test_warm_up_of_an_unknown_session_is_a_404(client, auth):
    r = patch(client, auth, "session-404", {"warmup": True})
    assert r.status_code == 404 and r.get_json()["error"]["field"] == "id"


def test_the_simulator_is_told_which_numbers_have_no_whatsapp(client, auth, redis_client):
    network = SimulatedNetwork(redis_client)
    r = client.post(
        "/api/whatsapp/simulator/on-whatsapp", headers=auth, json={"phones": ["0812-0000-0002"]}
    )
    assert r.status_code == 200
    assert r.get_json() == {"phones": ["6281200000002"], "onWhatsApp": False}
    assert network.on_whatsapp(["6281200000002", "6281200000003"]) == {
        "6281200000002": False,
        "6281200000003": True,
    }
    r = client.post(
        "/api/whatsapp/simulator/on-whatsapp",
        headers=auth,
        json={"phones": ["+6281200000002"], "onWhatsApp": True},
    )
    assert r.status_code == 200
    assert network.on_whatsapp(["6281200000002"]) == {"6281200000002": True}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "phones"),
        ({"phones": []}, 400, "phones"),
        ({"phones": "0812"}, 400, "phones"),
        ({"phones": ["12"]}, 400, "phones.0"),
        ({"phones": ["081200000002", "bukan nomor"]}, 422, "phones.1"),
        ({"phones": ["081200000002"], "onWhatsApp": "kadang"}, 400, "onWhatsApp"),
    ],
)
def test_bad_simulator_numbers_are_refused_with_the_field(client, auth, body, status, field):
    r = client.post("/api/whatsapp/simulator/on-whatsapp", headers=auth, json=body)
    assert r.status_code == status
    assert r.get_json()["error"]["field"] == field


class TestWarmupChosenAtLink:
    """Warm-up is the operator's choice when adding a number; a number in use is not throttled."""

    def linked(self, app, session_id):
        from webapp.extensions import db
        from workers.pipeline import fold as session_events
        from workers.pipeline import sessions

        with app.app_context():
            session_events.apply(
                {"session_id": session_id, "kind": "paired", "phone": "6281", "at": 1.0e9}
            )
            db.session.commit()
            return sessions.get_session(session_id).warmup_started_at

    def create(self, client, auth, **body):
        r = client.post(
            "/api/whatsapp/sessions",
            headers=auth,
            json={"deviceId": "WA-7", "transport": "simulator", **body},
        )
        assert r.status_code == 201, r.get_json()
        return r.get_json()["session"]

    def test_by_default_a_linked_number_does_not_warm_up(self, app, client, auth):
        session = self.create(client, auth)
        assert session["warmupOnLink"] is False
        assert self.linked(app, session["id"]) is None

    def test_a_number_added_with_warmup_true_starts_warming_up_when_linked(self, app, client, auth):
        session = self.create(client, auth, warmup=True)
        assert session["warmupOnLink"] is True and session["warmupStartedAt"] is None
        assert self.linked(app, session["id"]) is not None

    @pytest.mark.parametrize("value", ["ya", 3, [True]])
    def test_warmup_at_link_must_be_true_or_false(self, client, auth, value):
        r = client.post(
            "/api/whatsapp/sessions",
            headers=auth,
            json={"deviceId": "WA-8", "transport": "simulator", "warmup": value},
        )
        assert r.status_code == 400
        assert r.get_json()["error"]["field"] == "warmup"
