"""Session hosts as real processes: surviving each other, and refusing a wrong key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.e2e.conftest import BIN, ROOT
from tests.e2e.helpers import link_numbers
from tests.polling import wait_for
from workers.queue import keys


def test_a_killed_hosts_sessions_are_taken_over_without_a_new_scan(
    client, auth, redis_client, kabar_processes
):
    kabar_processes.start("session-host-2", str(BIN / "python"), "-m", "workers.session_host")
    wait_for(lambda: len(redis_client.keys("kabar:host:*")) == 2)
    (session,) = link_numbers(client, auth, 1, interval_ms=200)
    holder = redis_client.get(keys.lease(session)).decode()
    victim = next(
        name
        for name in ("session-host", "session-host-2")
        if str(kabar_processes.procs[name].pid) in holder
    )
    kabar_processes.stop(victim, signal.SIGKILL)

    def taken_over():
        value = redis_client.get(keys.lease(session))
        return value is not None and value.decode() != holder

    wait_for(taken_over, timeout=30)
    listed = wait_for(
        lambda: [
            s
            for s in client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"]
            if s["status"] == "connected"
        ]
    )
    assert listed[0]["id"] == session
    r = client.post(
        "/api/whatsapp/send", headers=auth, json={"to": "081234567890", "text": "Masih tersambung"}
    )
    message_id = r.get_json()["id"]
    wait_for(
        lambda: (
            client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth).get_json()[
                "status"
            ]
            in ("sent", "delivered", "read")
        )
    )


def test_a_wrong_key_stops_the_session_host_at_start(tmp_path):
    from webapp.core.credentials import CredentialStore, derive_key

    CredentialStore(tmp_path, "session-1", derive_key("the right key")).save(b'{"phone": "1"}')
    env = {**os.environ, "KABAR_SESSION_STORE": str(tmp_path), "WA_ENCRYPTION_KEY": "wrong"}
    done = subprocess.run(
        [sys.executable, "-m", "workers.session_host"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot decrypt" in done.stderr and "session-1" in done.stderr
