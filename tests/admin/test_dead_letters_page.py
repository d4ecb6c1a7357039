"""Session events set aside (they failed with the database up) are shown on the queue page and
can be replayed from there, one or all."""

from __future__ import annotations

import time

from tests.folding import receipt, sent_message, status_of
from webapp.extensions import db
from webapp.models import WhatsAppSession
from workers.queue import session_events


def test_an_event_that_fails_with_the_database_up_is_shown_and_can_be_replayed(
    app, redis_client, logged_in
):
    from workers.pipeline import actors

    with app.app_context():
        db.session.add(WhatsAppSession(session_id="s-1", device_id="d-1"))
        message_id = sent_message("WA-9")
    bad = {"session_id": "s-1", "kind": "qr", "at": time.time(), "code": "2@abc"}  # no expiry
    session_events.publish(redis_client, bad)
    actors.fold_session_events.fn()
    # As if an earlier fold had set a good event aside (a bug since fixed).
    session_events.dead_letter(redis_client, None, receipt("WA-9", "read"), "KeyError('x')")

    page = logged_in.get("/admin/queue").get_data(as_text=True)
    assert "Peristiwa sesi yang disisihkan" in page and "KeyError" in page
    dead = session_events.dead_letters(redis_client)
    assert [d["event"]["kind"] for d in dead] == ["receipt", "qr"]

    r = logged_in.post(
        "/admin/queue/dead-letters/replay",
        data={"csrf_token": logged_in.csrf, "id": dead[0]["id"]},
        follow_redirects=True,
    )
    assert "1 peristiwa dikirim kembali" in r.get_data(as_text=True)
    actors.fold_session_events.fn()
    assert status_of(app, message_id) == "read"
    assert [d["event"]["kind"] for d in session_events.dead_letters(redis_client)] == ["qr"]

    logged_in.post("/admin/queue/dead-letters/replay", data={"csrf_token": logged_in.csrf})
    actors.fold_session_events.fn()  # still broken: set aside again, not lost
    assert [d["event"]["kind"] for d in session_events.dead_letters(redis_client)] == ["qr"]
