"""Write access to Redis alone makes no number send and forges nothing a number received: the
real session host and workers act only on what Kabar signed."""

from __future__ import annotations

import json
import os
import time
import uuid

from dramatiq.brokers.redis import RedisBroker

from tests.e2e.helpers import customer_writes, link_numbers, opted_out, phone
from tests.polling import wait_for
from tests.receivers import webhook_receiver
from webapp.extensions import db
from webapp.models import IncomingMessage
from workers.queue import broker, keys, session_events, signing
from workers.session_host.simulated_network import SimulatedNetwork

VICTIM = phone(666)


def _send_request(session_id: str) -> dict:
    request_id = uuid.uuid4().hex
    return {
        "id": request_id,
        "session": session_id,
        "method": "send",
        "params": {"message_id": 9_999, "jid": f"{VICTIM}@s.whatsapp.net", "text": "Bayar ke sini"},
        "reply_to": keys.rpc_reply(request_id),
        "at": time.time(),
        "deadline": time.time() + 30,
    }


def _dropped_requests(procs) -> int:
    return procs.logs().count("that Kabar did not sign")


def test_a_send_request_pushed_straight_into_redis_reaches_no_phone(
    client, auth, redis_client, kabar_processes
):
    (session_id,) = link_numbers(client, auth, 1)
    queue = keys.rpc_requests(session_id)
    # What the request looked like before it was signed, and a signature made with another key.
    unsigned = _send_request(session_id)
    redis_client.rpush(queue, json.dumps(unsigned))
    body = json.dumps(_send_request(session_id))
    wrong_key = signing.channel_key("not the installation's secret")
    forged = {"body": body, "sig": signing.sign(signing.RPC_REQUEST, body, wrong_key)}
    redis_client.rpush(queue, json.dumps(forged))
    # A request signed for another session, moved onto this one's queue.
    redis_client.rpush(queue, signing.seal(signing.RPC_REQUEST, _send_request("another")))

    wait_for(lambda: _dropped_requests(kabar_processes) == 3, timeout=20)
    assert redis_client.llen(queue) == 0
    assert SimulatedNetwork(redis_client).inbox(VICTIM) == []
    assert redis_client.llen(unsigned["reply_to"]) == 0
    assert "Bayar ke sini" not in kabar_processes.logs()  # dropped requests are not shown

    # The same host sends what Kabar signs.
    sent = client.post("/api/whatsapp/send", headers=auth, json={"to": VICTIM, "text": "Halo"})
    assert sent.status_code == 202, sent.get_json()
    inbox = wait_for(lambda: SimulatedNetwork(redis_client).inbox(VICTIM))
    assert [m["text"] for m in inbox] == ["Halo"]


def test_a_forged_stop_word_and_incoming_message_are_not_folded(
    app, client, auth, redis_client, kabar_processes
):
    (session_id,) = link_numbers(client, auth, 1)
    forged = {
        "session_id": session_id,
        "kind": "message",
        "at": time.time(),
        "from_phone": VICTIM,
        "from_jid": f"{VICTIM}@s.whatsapp.net",
        "text": "STOP",
        "wa_message_id": "FORGED-1",
    }
    redis_client.xadd(keys.SESSION_EVENTS, {"data": json.dumps(forged)})
    data = json.dumps({**forged, "wa_message_id": "FORGED-2"})
    wrong_key = signing.channel_key("not the installation's secret")
    redis_client.xadd(
        keys.SESSION_EVENTS,
        {"data": data, "sig": signing.sign(signing.SESSION_EVENT, data, wrong_key)},
    )

    # A real customer's message, after the forged ones, is folded: they were looked at.
    customer_writes(client, auth, session_id, phone(7), "Halo admin")

    def folded():
        with app.app_context():
            texts = db.session.scalars(db.select(IncomingMessage.text)).all()
            db.session.rollback()
            return texts

    assert wait_for(folded) == ["Halo admin"]
    wait_for(
        lambda: not redis_client.xpending(keys.SESSION_EVENTS, keys.SESSION_EVENTS_GROUP)["pending"]
    )
    assert folded() == ["Halo admin"]
    assert not opted_out(app, VICTIM)
    assert session_events.dead_letters(redis_client) == []


def test_a_webhook_job_pushed_straight_into_redis_posts_nothing(
    client, auth, redis_client, kabar_processes, private_webhooks
):
    """A forged ``deliver_webhook`` job would have Kabar sign a body of the forger's choosing
    with the webhook's secret; the real worker skips it."""
    with webhook_receiver() as receiver:
        created = client.post(
            "/api/whatsapp/webhooks",
            headers=auth,
            json={"url": receiver.url, "events": ["message.incoming"]},
        ).get_json()
        forged_body = json.dumps({"event": "message.incoming", "data": {"text": "LUNAS"}})
        # The forger's own Dramatiq client on Kabar's Redis: no Kabar middleware, no key.
        forger = RedisBroker(url=os.environ["REDIS_URL"], middleware=[])
        forger.declare_queue("maintenance")
        job = broker.message(
            "deliver_webhook", "maintenance", created["webhook"]["id"], "message.incoming",
            "forged-1", forged_body,
        )  # fmt: skip
        forger.enqueue(job)
        wait_for(lambda: "skipped job" in kabar_processes.logs(), timeout=20)

        (session,) = link_numbers(client, auth, 1)
        customer_writes(client, auth, session, phone(8), "Halo admin")
        (delivered,) = wait_for(lambda: receiver.received())
    assert delivered.json()["data"]["text"] == "Halo admin"
    assert "LUNAS" not in kabar_processes.logs()
