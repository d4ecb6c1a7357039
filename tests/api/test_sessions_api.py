"""Sessions over the API, without a session host running."""

from __future__ import annotations

import json

from workers.queue import keys


def test_created_session_is_listed_in_the_seed_shape(client, auth, redis_client):
    r = client.post(
        "/api/whatsapp/sessions",
        headers=auth,
        json={"deviceId": "WA-2", "priority": 2, "transport": "simulator"},
    )
    assert r.status_code == 201
    session = r.get_json()["session"]
    listed = client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"]
    assert listed == [session]
    assert {
        "id",
        "deviceId",
        "status",
        "isPrimary",
        "priority",
        "messageCount",
        "lastActivity",
    } <= set(session)
    assert session["status"] == "disconnected" and session["isPrimary"] is False
    desired = redis_client.hget(keys.DESIRED_SESSIONS, session["id"])
    assert json.loads(desired) == {"transport": "simulator"}


def test_bad_session_requests(client, auth):
    r = client.post("/api/whatsapp/sessions", headers=auth, json={"priority": 1})
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "deviceId"
    r = client.post(
        "/api/whatsapp/sessions",
        headers=auth,
        json={"deviceId": "WA-1", "transport": "carrier-pigeon"},
    )
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "transport"
    r = client.post(
        "/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-1", "priority": "x"}
    )
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "priority"
    client.post("/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-1"})
    r = client.post("/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-1"})
    assert r.status_code == 409 and r.get_json()["error"]["field"] == "deviceId"


def test_unknown_session_is_404_everywhere(client, auth):
    for method, path in [
        ("get", "/api/whatsapp/sessions/nope"),
        ("get", "/api/whatsapp/sessions/nope/qr"),
        ("delete", "/api/whatsapp/sessions/nope"),
        ("post", "/api/whatsapp/sessions/nope/simulator/scan"),
    ]:
        r = getattr(client, method)(path, headers=auth)
        assert r.status_code == 404, (path, r.get_json())
        assert r.get_json()["error"]["field"] == "id"


def test_scan_without_a_running_session_host_is_a_clear_409(client, auth):
    session = client.post(
        "/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-3", "transport": "simulator"}
    ).get_json()["session"]
    r = client.post(f"/api/whatsapp/sessions/{session['id']}/simulator/scan", headers=auth)
    assert r.status_code == 409
    assert "no session host" in r.get_json()["error"]["message"]


def test_qr_before_the_host_published_one_is_404_with_advice(client, auth):
    session = client.post(
        "/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-4", "transport": "simulator"}
    ).get_json()["session"]
    r = client.get(f"/api/whatsapp/sessions/{session['id']}/qr", headers=auth)
    assert r.status_code == 404 and "retry" in r.get_json()["error"]["message"]


def test_deleting_a_session_removes_it_for_the_session_hosts(client, auth, redis_client):
    session = client.post(
        "/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-5", "transport": "simulator"}
    ).get_json()["session"]
    r = client.delete(f"/api/whatsapp/sessions/{session['id']}", headers=auth)
    assert r.status_code == 200
    assert client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"] == []
    assert not redis_client.hexists(keys.DESIRED_SESSIONS, session["id"])


def test_unknown_path_and_method_answer_json(client, auth):
    r = client.get("/api/whatsapp/nothing-here", headers=auth)
    assert r.status_code == 404 and r.get_json()["error"]
    r = client.put("/api/whatsapp/send", headers=auth, json={})
    assert r.status_code == 405 and r.get_json()["error"]


def test_healthz_reports_database_and_redis(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_pacing_settings_are_changed_over_patch(client, auth):
    session = client.post(
        "/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-6", "transport": "simulator"}
    ).get_json()["session"]
    assert (session["intervalMs"], session["jitterMs"], session["dailyCap"]) == (1000, 200, None)
    r = client.patch(
        f"/api/whatsapp/sessions/{session['id']}",
        headers=auth,
        json={"intervalMs": 1500, "jitterMs": 0, "dailyCap": 500, "priority": 3},
    )
    assert r.status_code == 200, r.get_json()
    changed = r.get_json()["session"]
    assert (
        changed["intervalMs"],
        changed["jitterMs"],
        changed["dailyCap"],
        changed["priority"],
    ) == (1500, 0, 500, 3)
    for body, field in [
        ({"intervalMs": 10}, "intervalMs"),
        ({}, "body"),
        ({"dailyCap": "many"}, "dailyCap"),
    ]:
        r = client.patch(f"/api/whatsapp/sessions/{session['id']}", headers=auth, json=body)
        assert r.status_code == 400 and r.get_json()["error"]["field"] == field, r.get_json()
