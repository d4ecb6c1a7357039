"""A setting saved through the API reaches the worker processes already running: no restart."""

from __future__ import annotations

from tests.e2e.helpers import customer_writes, link_numbers, opted_out, phone
from tests.polling import wait_for


def test_a_new_opt_out_keyword_is_honoured_by_the_running_workers(
    app, client, auth, kabar_processes
):
    (session,) = link_numbers(client, auth, 1, interval_ms=200)
    r = client.patch("/api/settings", headers=auth, json={"opt_out_keywords": ["CUKUP"]})
    assert r.status_code == 200, r.get_json()
    customer_writes(client, auth, session, phone(1), "Cukup")
    wait_for(lambda: opted_out(app, phone(1)))
