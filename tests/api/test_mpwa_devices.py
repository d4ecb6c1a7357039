"""MPWA's /check-number and /info-devices: what a billing app asks about numbers is answered in
MPWA's shape from Kabar's linked numbers, and refused in that shape when no number can answer."""

from __future__ import annotations

import pytest

from tests.api.test_mpwa import SENDER, _refused
from webapp.extensions import db
from webapp.intake import api_keys
from webapp.models import WhatsAppSession
from workers.pipeline import routing
from workers.queue import keys


@pytest.fixture
def linked(app):
    """SENDER linked and connected, and a second number logged out."""
    with app.app_context():
        db.session.add_all(
            [
                WhatsAppSession(
                    session_id="s-live",
                    device_id="WA-1",
                    phone_number=SENDER,
                    status="connected",
                    is_primary=True,
                    priority=1,
                    message_count=42,
                ),
                WhatsAppSession(
                    session_id="s-out",
                    device_id="WA-2",
                    phone_number="6281222222222",
                    status="logged_out",
                    priority=2,
                ),
            ]
        )
        db.session.commit()


@pytest.fixture(autouse=True)
def fresh_routing():
    """Each test reads the sessions it wrote, not those another test cached."""
    routing.forget_sessions()
    yield
    routing.forget_sessions()


def _key(app, *chosen: str) -> str:
    with app.app_context():
        return api_keys.create_api_key("billing", chosen)[1]


class TestCheckNumber:
    def test_an_answer_kept_from_an_earlier_check_is_given_without_asking(
        self, app, client, api_key, linked, redis_client
    ):
        redis_client.set(keys.on_whatsapp("6281234567890"), "1")
        redis_client.set(keys.on_whatsapp("6281234567891"), "0")
        url = f"/check-number?api_key={api_key}&sender={SENDER}&number="
        r = client.get(url + "081234567890")
        assert r.status_code == 200 and r.get_json() == {"status": True, "msg": True}
        r = client.post("/check-number", data={"api_key": api_key, "number": "6281234567891"})
        assert r.status_code == 200 and r.get_json() == {"status": True, "msg": False}

    def test_no_connected_number_is_refused_in_mpwa_shape(self, app, client, api_key):
        r = client.get(f"/check-number?api_key={api_key}&number=081234567890")
        assert "connected" in _refused(r, "sender")["msg"]

    def test_a_sender_that_is_not_connected_is_refused(self, client, api_key, linked):
        r = client.get(f"/check-number?api_key={api_key}&sender=6281222222222&number=0812345678")
        assert "logged_out" in _refused(r, "sender")["msg"]

    def test_a_host_that_does_not_answer_is_refused_not_guessed(
        self, app, client, api_key, linked, monkeypatch
    ):
        monkeypatch.setitem(app.config, "RPC_TIMEOUT_S", 0.5)
        r = client.get(f"/check-number?api_key={api_key}&number=081234567890")
        assert "could not be checked" in _refused(r, "number")["msg"]

    @pytest.mark.parametrize("query", ["", "&number=", "&number=0812"])
    def test_missing_or_bad_number(self, client, api_key, linked, query):
        _refused(client.get(f"/check-number?api_key={api_key}{query}"), "number")

    def test_a_key_without_the_send_scope(self, app, client, linked):
        reader = _key(app, "read")
        r = client.get(f"/check-number?api_key={reader}&number=081234567890")
        assert _refused(r, "api_key")["msg"] == "api_key: this key lacks the send scope"


class TestInfoDevices:
    def test_the_linked_numbers_and_their_states(self, app, client, api_key, linked):
        r = client.get(f"/info-devices?api_key={api_key}")
        assert r.status_code == 200
        body = r.get_json()
        assert body["status"] is True
        live, out = body["info"]
        assert (live["body"], live["status"], live["state"]) == (SENDER, "Connected", "connected")
        assert live["message_sent"] == 42 and live["session_id"] == "s-live"
        assert live["is_primary"] is True
        assert (out["body"], out["status"], out["state"]) == (
            "6281222222222",
            "Disconnected",
            "logged_out",
        )

    def test_one_number(self, client, api_key, linked):
        r = client.post("/info-devices", json={"api_key": api_key, "number": "081222222222"})
        assert [d["session_id"] for d in r.get_json()["info"]] == ["s-out"]

    def test_no_such_number_is_refused_in_mpwa_shape(self, client, api_key, linked):
        _refused(client.get(f"/info-devices?api_key={api_key}&number=081299999999"), "number")

    def test_it_needs_the_read_scope(self, app, client, linked):
        billing = _key(app, "send")
        r = client.get(f"/info-devices?api_key={billing}")
        assert _refused(r, "api_key")["msg"] == "api_key: this key lacks the read scope"
        assert client.get(f"/info-devices?api_key={_key(app, 'read')}").status_code == 200
