"""API key scopes over the real API: a billing key (send) sends and reads its messages' status,
and can neither relink a number, read a QR code, add a webhook nor change a setting."""

from __future__ import annotations

import re

import pytest

from webapp.api import scopes
from webapp.intake import api_keys


@pytest.fixture
def key_with(app):
    def make(*chosen: str) -> dict[str, str]:
        with app.app_context():
            _, raw = api_keys.create_api_key("scoped", chosen)
        return {"Authorization": f"Bearer {raw}"}

    return make


def _api_calls(app, table: set[str]):
    """(method, path) of every route of ``table``, with made-up path parameters."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in table:
            path = re.sub(r"<(?:\w+:)?(\w+)>", "x1", rule.rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, path


def test_every_api_route_has_its_scope_chosen_on_purpose(app):
    api_endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("api.")}
    assert api_endpoints == scopes.SEND | scopes.READ | scopes.ADMIN
    assert not (
        scopes.SEND & scopes.READ or scopes.SEND & scopes.ADMIN or scopes.READ & scopes.ADMIN
    )


def test_a_billing_key_sends_and_follows_its_message(client, key_with):
    billing = key_with("send")
    sent = client.post(
        "/api/whatsapp/send", headers=billing, json={"to": "081234567890", "text": "Tagihan Anda"}
    )
    assert sent.status_code == 202, sent.get_json()
    message_id = sent.get_json()["id"]
    status = client.get(f"/api/whatsapp/message/{message_id}/status", headers=billing)
    assert status.status_code == 200 and status.get_json()["status"] == "queued"
    assert (
        client.post(f"/api/whatsapp/message/{message_id}/cancel", headers=billing).status_code
        == 200
    )


def test_a_billing_key_cannot_link_an_attackers_number(client, auth, key_with):
    billing = key_with("send")
    created = client.post(
        "/api/whatsapp/sessions",
        headers=billing,
        json={"deviceId": "ATTACKER", "transport": "simulator"},
    )
    assert created.status_code == 403
    assert created.get_json() == {
        "error": {
            "code": "missing_scope",
            "field": None,
            "message": "this key lacks the admin scope",
        }
    }
    assert client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"] == []


@pytest.mark.parametrize("table", ["ADMIN", "READ"])
def test_every_call_outside_a_keys_scopes_is_refused_naming_the_scope(app, client, key_with, table):
    others = {"ADMIN": ("send", "read"), "READ": ("send",)}[table]
    key = key_with(*others)
    needed = table.lower()
    calls = list(_api_calls(app, getattr(scopes, table)))
    assert calls
    for method, path in calls:
        r = client.open(path, method=method, headers=key, json={})
        assert r.status_code == 403, (method, path, r.get_json())
        assert r.get_json()["error"]["message"] == f"this key lacks the {needed} scope", path


def test_a_read_key_lists_but_does_not_send(client, key_with):
    reader = key_with("read")
    assert client.get("/api/whatsapp/sessions", headers=reader).status_code == 200
    assert client.get("/api/whatsapp/metrics", headers=reader).status_code == 200
    r = client.post("/api/whatsapp/send", headers=reader, json={"to": "081234567890", "text": "x"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "missing_scope"
    assert r.get_json()["error"]["message"] == "this key lacks the send scope"


def test_an_admin_key_manages_numbers_and_webhooks(client, key_with):
    admin = key_with("admin")
    created = client.post(
        "/api/whatsapp/sessions", headers=admin, json={"deviceId": "WA-1", "transport": "simulator"}
    )
    assert created.status_code == 201, created.get_json()
    hook = client.post("/api/whatsapp/webhooks", headers=admin, json={"url": "https://x.example/"})
    assert hook.status_code == 201
    assert client.get("/api/settings", headers=admin).status_code == 200


def test_mpwa_needs_the_send_scope(client, key_with):
    from tests.api.test_mpwa import phpnuxbill_url

    reader = key_with("read", "admin")["Authorization"].split()[1]
    r = client.get(phpnuxbill_url(reader, "081234567890", "Halo"))
    assert r.status_code == 400  # MPWA answers every refusal 400
    assert r.get_json() == {
        "status": False,
        "msg": "api_key: this key lacks the send scope",
        "field": "api_key",
    }
    billing = key_with("send")["Authorization"].split()[1]
    assert client.get(phpnuxbill_url(billing, "081234567890", "Halo")).get_json()["status"] is True


def test_every_dialect_route_has_its_scope_chosen_on_purpose(app):
    dialects = {
        r.endpoint
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith(("api_compat.", "api_fonnte."))
    }
    assert dialects == set(scopes.DIALECTS)
    assert {scopes.required(e) for e in dialects} <= {"send", "read"}


def test_fonnte_needs_the_send_scope(client, key_with):
    reader = key_with("read", "admin")["Authorization"].split()[1]
    fields = {"target": "081234567890", "message": "Halo"}
    r = client.post("/send", headers={"Authorization": reader}, data=fields)
    assert r.get_json() == {
        "status": False,
        "reason": "token: this key lacks the send scope",
        "field": "token",
    }
    billing = key_with("send")["Authorization"].split()[1]
    r = client.post("/send", headers={"Authorization": billing}, data=fields)
    assert r.get_json()["status"] is True


def test_unknown_and_empty_scopes_are_refused(app):
    from webapp.core.errors import KabarError

    with app.app_context():
        for chosen in (("root",), ()):
            with pytest.raises(KabarError) as refused:
                api_keys.create_api_key("x", chosen)
            assert refused.value.field == "scopes"
