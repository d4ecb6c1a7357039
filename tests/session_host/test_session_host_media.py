"""An attachment through the session host and a number's client process: the call carries a
descriptor, the client reads the bytes from Redis; bytes Redis no longer holds are answered
``media_missing`` (nothing went out, the message may be sent again once they are back)."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from tests.polling import wait_for
from tests.session_host.test_session_host import desire, make_host  # noqa: F401 - the fixture
from workers.queue import keys, media
from workers.session_host.rpc import SessionHostClient
from workers.session_host.simulated_network import SimulatedNetwork

JID = "6281234567890@s.whatsapp.net"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 12), "purple").save(buffer, "PNG")
    return buffer.getvalue()


def test_bytes_gone_from_redis_send_nothing_and_are_sent_once_when_back(
    redis_client,
    make_host,  # noqa: F811 - the fixture
):
    make_host("h1")
    desire(redis_client, "session-1")
    client = SessionHostClient(redis_client, timeout=10)
    wait_for(lambda: redis_client.exists(keys.lease("session-1")))
    client.call("session-1", "simulate", action="scan", params={"phone": "6289900000001"})
    png = _png()
    sha = hashlib.sha256(png).hexdigest()
    descriptor = {"sha256": sha, "type": "image", "mimetype": "image/png", "fileName": None,
                  "size": len(png)}  # fmt: skip
    item = {"message_id": 77, "jid": JID, "text": "QRIS", "media": descriptor}

    (missing,) = client.call("session-1", "send_batch", messages=[item])["results"]
    assert missing["state"] == "error" and missing["code"] == "media_missing"
    assert not redis_client.exists(keys.sent_record("77"))  # free to be sent again
    assert SimulatedNetwork(redis_client).inbox("6281234567890") == []

    media.stage(redis_client, {sha: png})
    (sent,) = client.call("session-1", "send_batch", messages=[item])["results"]
    assert sent["state"] == "sent"
    (entry,) = SimulatedNetwork(redis_client).inbox("6281234567890")
    assert entry["media"]["sha256"] == sha and entry["media"]["caption"] == "QRIS"
    assert redis_client.ttl(keys.media_blob(sha)) > 0  # the bytes do not stay in Redis for good
