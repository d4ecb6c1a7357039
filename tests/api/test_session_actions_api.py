"""Pairing, reconnect, logout and simulator faults over the API, without a session host: every
bad input is a JSON error naming the field, never a 500. (With real processes: tests/e2e.)"""

from __future__ import annotations

import pytest


@pytest.fixture
def make(client, auth):
    def create(device_id="WA-1", transport="simulator"):
        r = client.post(
            "/api/whatsapp/sessions",
            headers=auth,
            json={"deviceId": device_id, "priority": 1, "transport": transport},
        )
        assert r.status_code == 201, r.get_json()
        return r.get_json()["session"]["id"]

    return create


def error_of(response):
    body = response.get_json()
    assert "error" in body, body
    return response.status_code, body["error"].get("field"), body["error"]["code"]


ACTIONS = [
    ("post", "pair", {"phone": "081234567890"}),
    ("post", "reconnect", None),
    ("post", "logout", None),
    ("post", "simulator/faults", {"fault": "clear"}),
    ("get", "simulator/faults", None),
    ("post", "simulator/incoming", {"from": "081234567890", "text": "hai"}),
]


@pytest.mark.parametrize("method,action,body", ACTIONS)
def test_unknown_sessions_are_404(client, auth, method, action, body):
    r = getattr(client, method)(f"/api/whatsapp/sessions/nope/{action}", headers=auth, json=body)
    assert error_of(r) == (404, "id", "not_found")


@pytest.mark.parametrize("action,body", [(a, b) for m, a, b in ACTIONS if m == "post"])
def test_without_a_session_host_the_call_is_a_409(client, auth, make, action, body):
    session_id = make()
    r = client.post(f"/api/whatsapp/sessions/{session_id}/{action}", headers=auth, json=body)
    assert error_of(r) == (409, "id", "session_unavailable")


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "fault"),
        ({"fault": "meteor"}, "fault"),
        ({"fault": 7}, "fault"),
        ({"fault": "send_errors"}, "rate"),
        ({"fault": "send_errors", "rate": 1.5}, "rate"),
        ({"fault": "send_errors", "rate": "lots"}, "rate"),
        ({"fault": "send_errors", "rate": True}, "rate"),
        ({"fault": "latency"}, "ms"),
        ({"fault": "latency", "ms": -5}, "ms"),
        ({"fault": "latency", "ms": 1e12}, "ms"),
        ({"fault": "ban", "seconds": 0}, "seconds"),
        ({"fault": "disconnect", "seconds": "NaN"}, "seconds"),
        (["fault"], "body"),
    ],
)
def test_bad_faults_are_400_naming_the_field(client, auth, make, body, field):
    session_id = make()
    r = client.post(
        f"/api/whatsapp/sessions/{session_id}/simulator/faults", headers=auth, json=body
    )
    assert error_of(r)[:2] == (400, field)


def test_a_body_that_is_not_json_is_400(client, auth, make):
    session_id = make()
    for action in ("simulator/faults", "pair"):
        r = client.post(
            f"/api/whatsapp/sessions/{session_id}/{action}",
            headers={**auth, "Content-Type": "application/json"},
            data="{not json",
        )
        assert error_of(r)[:2] == (400, "body")


def test_simulator_controls_on_a_neonize_session_are_409(client, auth, make):
    session_id = make("WA-REAL", transport="neonize")
    for action, body in [
        ("simulator/faults", {"fault": "disconnect"}),
        ("simulator/scan", {}),
        ("simulator/incoming", {"from": "081234567890", "text": "hai"}),
    ]:
        r = client.post(f"/api/whatsapp/sessions/{session_id}/{action}", headers=auth, json=body)
        assert error_of(r) == (409, "id", "conflict"), action
    r = client.get(f"/api/whatsapp/sessions/{session_id}/simulator/faults", headers=auth)
    assert error_of(r) == (409, "id", "conflict")


def test_pairing_needs_a_real_phone_number(client, auth, make):
    session_id = make()
    for body in ({}, {"phone": ""}, {"phone": "12"}, {"phone": 6281234567890}):
        r = client.post(f"/api/whatsapp/sessions/{session_id}/pair", headers=auth, json=body)
        assert error_of(r)[:2] == (400, "phone"), body
    r = client.post(
        f"/api/whatsapp/sessions/{session_id}/pair", headers=auth, json={"phone": "0000000000"}
    )
    assert error_of(r)[:2] == (422, "phone")


def test_a_simulator_session_without_faults_lists_none(client, auth, make):
    session_id = make()
    r = client.get(f"/api/whatsapp/sessions/{session_id}/simulator/faults", headers=auth)
    assert r.status_code == 200 and r.get_json() == {"id": session_id, "faults": {}}


def test_sessions_show_when_a_ban_ends(client, auth, make):
    make()
    (session,) = client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"]
    assert "banExpiresAt" in session and session["banExpiresAt"] is None


def test_the_new_routes_need_an_api_key(client, make, auth):
    session_id = make()
    r = client.post(f"/api/whatsapp/sessions/{session_id}/reconnect")
    assert r.status_code == 401
