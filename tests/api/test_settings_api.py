"""/api/settings: every setting readable with an API key, partial changes all or nothing, and
secrets never in a response."""

from __future__ import annotations

import json

from webapp import settings
from workers.queue import keys

PASSWORD = "api-rahasia-7d1e"


def test_settings_need_an_api_key(client):
    assert client.get("/api/settings").status_code == 401
    r = client.patch("/api/settings", json={"retention_messages_days": 1})
    assert r.status_code == 401


def test_every_setting_is_listed_with_where_its_value_comes_from(client, auth):
    body = client.get("/api/settings", headers=auth).get_json()
    assert set(body["settings"]) == set(settings.SPECS)
    assert set(body["sources"].values()) == {"default"}
    assert body["settings"]["smtp_password"] == {"set": False}
    assert body["settings"]["routing_bulk"] in ("failover", "spread")


def test_a_patch_changes_only_what_it_names(client, auth):
    before = client.get("/api/settings", headers=auth).get_json()
    r = client.patch(
        "/api/settings",
        headers=auth,
        json={"retention_messages_days": "45", "quiet_hours": "21:00-07:00"},
    )
    assert r.status_code == 200
    after = client.get("/api/settings", headers=auth).get_json()
    assert after["settings"]["retention_messages_days"] == 45
    assert after["settings"]["quiet_hours"] == "21:00-07:00"
    assert after["sources"]["retention_messages_days"] == "saved"
    assert after["sources"]["smtp_port"] == "default"
    assert after["settings"]["smtp_port"] == before["settings"]["smtp_port"]
    assert r.get_json() == after


def test_a_bad_value_is_refused_with_its_field_and_nothing_is_saved(client, auth):
    r = client.patch(
        "/api/settings",
        headers=auth,
        json={"retention_jobs_days": 60, "smtp_port": 70000},
    )
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "invalid_setting" and error["field"] == "smtp_port"
    assert "at most 65535" in error["message"]
    sources = client.get("/api/settings", headers=auth).get_json()["sources"]
    assert sources["retention_jobs_days"] == "default"


def test_unknown_settings_and_bodies_that_are_not_objects_are_refused(client, auth):
    r = client.patch("/api/settings", headers=auth, json={"colour": "green"})
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "colour"
    for body in ([1, 2], {}, "x"):
        r = client.patch("/api/settings", headers=auth, json=body)
        assert r.status_code == 400 and r.get_json()["error"]["field"] == "body"
    r = client.patch("/api/settings", headers=auth, data="{not json", content_type="text/plain")
    assert r.status_code == 400


def test_a_secret_is_accepted_but_never_answered(client, auth):
    r = client.patch("/api/settings", headers=auth, json={"smtp_password": PASSWORD})
    assert r.status_code == 200 and PASSWORD not in r.get_data(as_text=True)
    assert r.get_json()["settings"]["smtp_password"] == {"set": True}
    r = client.get("/api/settings", headers=auth)
    assert PASSWORD not in r.get_data(as_text=True)


def test_null_resets_a_setting_to_its_default(client, auth):
    client.patch("/api/settings", headers=auth, json={"opt_out_keywords": ["CUKUP"]})
    r = client.patch("/api/settings", headers=auth, json={"opt_out_keywords": None})
    assert r.get_json()["sources"]["opt_out_keywords"] == "default"
    assert "CUKUP" not in r.get_json()["settings"]["opt_out_keywords"]


def test_a_reconnect_backoff_change_is_handed_to_the_session_hosts(client, auth, redis_client):
    created = client.post("/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-1"})
    session_id = created.get_json()["session"]["id"]
    r = client.patch(
        "/api/settings",
        headers=auth,
        json={"reconnect_backoff_base_s": 0.5, "reconnect_backoff_cap_s": 5},
    )
    assert r.status_code == 200
    entry = json.loads(redis_client.hget(keys.DESIRED_SESSIONS, session_id))
    assert entry["options"] == {"backoff_base": 0.5, "backoff_cap": 5.0}


def test_a_malformed_smtp_host_is_refused_naming_the_field(client, auth):
    for host in ("smtp..example.com", "a b"):
        r = client.patch("/api/settings", headers=auth, json={"smtp_host": host})
        assert r.status_code == 422
        error = r.get_json()["error"]
        assert error["field"] == "smtp_host" and "host name" in error["message"]
    assert client.get("/api/settings", headers=auth).get_json()["sources"]["smtp_host"] == "default"


def test_moving_the_smtp_server_without_a_password_clears_the_saved_one(client, auth):
    client.patch("/api/settings", headers=auth, json={"smtp_password": PASSWORD})
    r = client.patch("/api/settings", headers=auth, json={"smtp_host": "mx.attacker.example"})
    assert r.status_code == 200
    assert r.get_json()["settings"]["smtp_password"] == {"set": False}
    moved_with_it = {"smtp_port": 2525, "smtp_password": PASSWORD}
    r = client.patch("/api/settings", headers=auth, json=moved_with_it)
    assert r.get_json()["settings"]["smtp_password"] == {"set": True}
