"""Sessions through every real process: QR rotation, scans and pairing codes, injected faults
(disconnect, logout from the phone, ban), the primary moving by priority, and the reconnect and
logout endpoints. The simulator's QR lifetime and back-off are shortened through the
environment the processes start with; the behaviour is the production one."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
import sqlalchemy as sa

from tests.polling import wait_for
from webapp import config
from webapp.core.credentials import engine_for, session_credentials
from webapp.extensions import db
from webapp.models import Contact, IncomingMessage
from workers.queue import keys


@pytest.fixture
def processes(monkeypatch, request, tmp_path):
    # Session ids restart at session-1 in every test: a store of its own per test, so no
    # session resumes the login an earlier test scanned.
    monkeypatch.setenv("KABAR_SESSION_STORE", str(tmp_path / "sessions"))
    monkeypatch.setenv("KABAR_SIM_QR_TTL", "2")
    monkeypatch.setenv("KABAR_SIM_BACKOFF_BASE", "0.3")
    monkeypatch.setenv("KABAR_SIM_BACKOFF_JITTER", "0")
    return request.getfixturevalue("kabar_processes")


class Api:
    """The JSON API as an integration sees it, checking on every listing that there is never
    more than one primary."""

    def __init__(self, client, auth) -> None:
        self.client = client
        self.auth = auth

    def get(self, path):
        return self.client.get(f"/api/whatsapp{path}", headers=self.auth)

    def post(self, path, body=None):
        return self.client.post(f"/api/whatsapp{path}", headers=self.auth, json=body or {})

    def sessions(self) -> dict[str, dict]:
        listed = self.get("/sessions").get_json()["sessions"]
        primaries = [s["id"] for s in listed if s["isPrimary"]]
        assert len(primaries) <= 1, f"two primaries: {primaries}"
        return {s["id"]: s for s in listed}

    def session(self, session_id) -> dict:
        return self.sessions()[session_id]

    def wait_status(self, session_id, status, timeout=20.0) -> dict:
        return wait_for(
            lambda: (s := self.session(session_id))["status"] == status and s, timeout=timeout
        )

    def primary(self) -> str | None:
        return next((sid for sid, s in self.sessions().items() if s["isPrimary"]), None)

    def create(self, device_id, priority) -> str:
        r = self.post(
            "/sessions", {"deviceId": device_id, "priority": priority, "transport": "simulator"}
        )
        assert r.status_code == 201, r.get_json()
        return r.get_json()["session"]["id"]

    def qr(self, session_id) -> str | None:
        r = self.get(f"/sessions/{session_id}/qr")
        return r.get_json()["qr"] if r.status_code == 200 else None

    def link(self, device_id, priority, phone=None) -> str:
        session_id = self.create(device_id, priority)
        wait_for(lambda: self.qr(session_id))
        r = self.post(f"/sessions/{session_id}/simulator/scan", {"phone": phone} if phone else {})
        assert r.status_code == 200, r.get_json()
        self.wait_status(session_id, "connected")
        return session_id

    def fault(self, session_id, fault, **params):
        r = self.post(f"/sessions/{session_id}/simulator/faults", {"fault": fault, **params})
        assert r.status_code == 200, r.get_json()
        return r.get_json()


@pytest.fixture
def api(client, auth):
    return Api(client, auth)


def credentials_stored(session_id: str) -> bool:
    """Whether the session's encrypted credentials are in the database."""
    with engine_for(config.DATABASE_URL).connect() as conn:
        row = conn.execute(
            sa.select(session_credentials.c.session_id).where(
                session_credentials.c.session_id == session_id
            )
        ).first()
    return row is not None


def test_the_qr_rotates_until_scanned_and_a_scan_connects(api, processes):
    session_id = api.create("WA-1", 1)
    first = wait_for(lambda: api.qr(session_id))
    assert first.startswith("data:image/png;base64,")
    second = wait_for(lambda: (qr := api.qr(session_id)) and qr != first and qr, timeout=10)
    assert second != first
    r = api.post(f"/sessions/{session_id}/simulator/scan", {"phone": "6289911112222"})
    assert r.get_json()["status"] == "connected"
    session = api.wait_status(session_id, "connected")
    assert session["phoneNumber"] == "6289911112222" and session["isPrimary"] is True
    assert api.get(f"/sessions/{session_id}/qr").status_code == 409
    assert credentials_stored(session_id)


def test_a_pairing_code_links_the_phone_it_was_asked_for(api, processes):
    session_id = api.create("WA-1", 1)
    wait_for(lambda: api.qr(session_id))
    r = api.post(f"/sessions/{session_id}/pair", {"phone": "0812-1111-2222"})
    assert r.status_code == 200, r.get_json()
    code = r.get_json()["code"]
    assert len(code) == 8 and code.isalnum()
    api.post(f"/sessions/{session_id}/simulator/scan")  # the user typed the code on the phone
    assert api.wait_status(session_id, "connected")["phoneNumber"] == "6281211112222"
    r = api.post(f"/sessions/{session_id}/pair", {"phone": "0812-1111-2222"})
    assert r.status_code == 409 and r.get_json()["error"]["field"] == "id"


def test_a_dropped_connection_comes_back_by_itself(api, processes, redis_client):
    session_id = api.link("WA-1", 1)
    result = api.fault(session_id, "disconnect", seconds=1.5)
    assert result["status"] == "disconnected"
    dropped = api.wait_status(session_id, "disconnected")
    assert "connection lost" in dropped["lastError"] or "outage" in dropped["lastError"]
    back = api.wait_status(session_id, "connected")
    assert back["lastError"] is None and back["isPrimary"] is True
    statuses = [
        json.loads(f[b"data"])
        for _, f in redis_client.xrange(keys.SESSION_EVENTS)
        if json.loads(f[b"data"])["kind"] == "status"
    ]
    drops = [e for e in statuses if e["status"] == "disconnected"]
    assert [e["attempt"] for e in drops] == list(range(1, len(drops) + 1)) and len(drops) >= 2
    assert [e["retry_in"] for e in drops[:2]] == [0.3, 0.6]


def test_logged_out_stays_out_and_a_ban_shows_its_reason_and_expiry(api, processes):
    out = api.link("WA-1", 1)
    other = api.link("WA-2", 2)
    api.fault(out, "logged_out")
    session = api.wait_status(out, "logged_out")
    assert "logged out" in session["lastError"]
    assert not credentials_stored(out)
    # Another session's drop and return takes longer than a first retry would: still logged out.
    api.fault(other, "disconnect", seconds=1)
    api.wait_status(other, "disconnected")
    api.wait_status(other, "connected")
    assert api.session(out)["status"] == "logged_out"

    before = time.time()
    api.fault(other, "ban", seconds=3600)
    banned = api.wait_status(other, "banned")
    assert "banned" in banned["lastError"]
    expires = datetime.fromisoformat(banned["banExpiresAt"].replace("Z", "+00:00")).timestamp()
    assert before + 3600 - 5 < expires < time.time() + 3600 + 5
    assert api.primary() is None
    faults = api.get(f"/sessions/{other}/simulator/faults").get_json()["faults"]
    assert set(faults) == {"ban"}

    api.fault(other, "clear")
    back = api.wait_status(other, "connected")
    assert back["banExpiresAt"] is None and back["isPrimary"] is True


def test_the_primary_moves_by_priority_and_there_is_never_two(api, processes):
    first = api.link("WA-1", 1)
    second = api.link("WA-2", 2)
    third = api.link("WA-3", 3)
    assert api.primary() == first

    api.fault(first, "disconnect", seconds=2)
    wait_for(lambda: api.primary() == second)
    wait_for(lambda: api.primary() == first)  # back after its outage

    api.fault(first, "logged_out")
    wait_for(lambda: api.primary() == second)
    api.fault(second, "ban")
    wait_for(lambda: api.primary() == third)
    r = api.client.patch(f"/api/whatsapp/sessions/{third}", headers=api.auth, json={"priority": 5})
    assert r.status_code == 200
    assert api.primary() == third  # the only connected one, whatever its priority


def test_reconnect_and_logout_endpoints(api, processes):
    session_id = api.link("WA-1", 1, phone="6289933334444")
    r = api.post(f"/sessions/{session_id}/reconnect")
    assert r.status_code == 200 and r.get_json()["status"] == "connected"
    assert api.wait_status(session_id, "connected")["phoneNumber"] == "6289933334444"

    r = api.post(f"/sessions/{session_id}/logout")
    assert r.status_code == 200 and r.get_json()["status"] == "logged_out"
    api.wait_status(session_id, "logged_out")
    assert not credentials_stored(session_id)

    # Reconnecting a logged-out session asks for a new scan.
    assert api.post(f"/sessions/{session_id}/reconnect").status_code == 200
    wait_for(lambda: api.qr(session_id))
    api.post(f"/sessions/{session_id}/simulator/scan", {"phone": "6289955556666"})
    assert api.wait_status(session_id, "connected")["phoneNumber"] == "6289955556666"


def test_a_customer_reply_is_stored_with_its_contact(api, processes, app):
    session_id = api.link("WA-1", 1)
    with app.app_context():
        db.session.execute(db.text("TRUNCATE contacts, incoming_messages RESTART IDENTITY"))
        db.session.commit()
    r = api.post(
        f"/sessions/{session_id}/simulator/incoming",
        {"from": "0812-3456-7890", "text": "Sudah transfer", "pushName": "Budi"},
    )
    assert r.status_code == 200, r.get_json()
    wa_message_id = r.get_json()["wa_message_id"]

    def stored():
        with app.app_context():
            message = db.session.scalar(db.select(IncomingMessage))
            contact = db.session.scalar(db.select(Contact))
            return message and contact and (message.wa_message_id, message.text, contact.push_name)

    assert wait_for(stored) == (wa_message_id, "Sudah transfer", "Budi")
