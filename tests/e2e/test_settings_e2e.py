"""A setting saved through the API reaches the worker processes already running: no restart."""

from __future__ import annotations

from tests.e2e.helpers import link_numbers, phone
from tests.polling import wait_for
from webapp.extensions import db
from webapp.models import Contact


def test_a_new_opt_out_keyword_is_honoured_by_the_running_workers(
    app, client, auth, kabar_processes
):
    (session,) = link_numbers(client, auth, 1, interval_ms=200)
    r = client.patch("/api/settings", headers=auth, json={"opt_out_keywords": ["CUKUP"]})
    assert r.status_code == 200, r.get_json()
    said = client.post(
        f"/api/whatsapp/sessions/{session}/simulator/incoming",
        headers=auth,
        json={"from": phone(1), "text": "Cukup"},
    )
    assert said.status_code == 200, said.get_json()

    def opted_out():
        with app.app_context():
            contact = db.session.scalar(db.select(Contact).where(Contact.phone == phone(1)))
            db.session.rollback()
            return contact is not None and contact.opted_out

    wait_for(opted_out)
