"""Billing apps speaking MPWA's and Fonnte's dialects, through every real process (web app in the
test, session host, workers): a multi-recipient MPWA send and a Fonnte send to several targets
each reach every simulated phone exactly once, and MPWA's /check-number asks the session host."""

from __future__ import annotations

from tests.e2e.helpers import inboxes, link_numbers, phone
from tests.polling import wait_for
from workers.session_host.simulated_network import SimulatedNetwork

REACHED = ("sent", "delivered", "read")


def _status(client, auth, message_id):
    return client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth).get_json()


def _all_reached(client, auth, ids):
    return wait_for(
        lambda: all(_status(client, auth, i)["status"] in REACHED for i in ids), timeout=60
    )


def test_an_mpwa_send_to_several_numbers_reaches_each_phone_once(
    client, auth, api_key, redis_client, kabar_processes
):
    link_numbers(client, auth, 1, interval_ms=100)
    numbers = "|".join(["0" + phone(n)[2:] for n in (1, 2, 3)] + [phone(2)])  # 2 typed twice
    r = client.post(
        "/send-message",
        data={"api_key": api_key, "number": numbers, "message": "Gangguan", "footer": "ISP Kita"},
    )
    assert r.status_code == 200 and r.get_json()["status"] is True, r.get_json()
    sent = r.get_json()["data"]["messages"]
    assert [m["to"] for m in sent] == [phone(1), phone(2), phone(3)]

    _all_reached(client, auth, [m["id"] for m in sent])
    boxes = wait_for(lambda: (b := inboxes(redis_client, (1, 2, 3))) and all(b.values()) and b)
    for n in (1, 2, 3):
        (received,) = boxes[n]
        assert received["text"] == "Gangguan\n\n> _ISP Kita_"


def test_a_fonnte_send_to_several_targets_reaches_each_phone_once_with_its_variables(
    client, auth, api_key, redis_client, kabar_processes
):
    link_numbers(client, auth, 1, interval_ms=100)
    targets = ",".join(f"0{phone(n)[2:]}|Pelanggan {n}|INV-{n}" for n in (4, 5, 6))
    r = client.post(
        "/send",
        headers={"Authorization": api_key},
        data={"target": targets, "message": "Halo {name}, tagihan {var1} terbit", "delay": "2"},
    )
    body = r.get_json()
    assert r.status_code == 200 and body["status"] is True, body
    assert body["target"] == [phone(4), phone(5), phone(6)]

    _all_reached(client, auth, body["id"])
    boxes = wait_for(lambda: (b := inboxes(redis_client, (4, 5, 6))) and all(b.values()) and b)
    for n in (4, 5, 6):
        (received,) = boxes[n]
        assert received["text"] == f"Halo Pelanggan {n}, tagihan INV-{n} terbit"


def test_mpwa_check_number_asks_the_session_host_once_then_keeps_the_answer(
    client, auth, api_key, redis_client, kabar_processes
):
    (session_id,) = link_numbers(client, auth, 1)
    sender = client.get(f"/api/whatsapp/sessions/{session_id}", headers=auth).get_json()
    r = client.post(
        "/api/whatsapp/simulator/on-whatsapp", headers=auth, json={"phones": [phone(8)]}
    )
    assert r.status_code == 200
    network = SimulatedNetwork(redis_client)
    url = f"/check-number?api_key={api_key}&sender={sender['session']['phoneNumber']}&number="

    assert client.get(url + phone(7)).get_json() == {"status": True, "msg": True}
    assert client.get(url + phone(8)).get_json() == {"status": True, "msg": False}
    assert network.checks() == 2
    assert client.get(url + phone(7)).get_json() == {"status": True, "msg": True}
    assert network.checks() == 2  # answered from what the first check kept
