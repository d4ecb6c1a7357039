"""The neonize transport's "typing..." presence and check of numbers, at the neonize boundary:
real neonize enums and protobufs, on the stand-in client of the transport tests."""

from __future__ import annotations

import pytest
from neonize.events import ConnectedEv
from neonize.exc import IsOnWhatsAppError, SendPresenceError
from neonize.proto.Neonize_pb2 import IsOnWhatsAppResponse
from neonize.utils.enum import ChatPresence, ChatPresenceMedia
from neonize.utils.jid import build_jid

from tests.session_host.transports.test_neonize_transport import (  # noqa: F401 - fixtures
    THEIR_PHONE,
    FakeClient,
    Recorder,
    connecting,
    make,
    store,
    user_jid,
    workdir,
)
from webapp.core.credentials import derive_key
from workers.session_host.host import SessionHost
from workers.session_host.transports.base import NotConnected, TransportError
from workers.session_host.transports.neonize.mapping import map_on_whatsapp

OTHER_PHONE = "6289911112222"
UNKNOWN_PHONE = "6287733334444"


class DeliverabilityClient(FakeClient):
    """The stand-in client, with neonize's send_chat_presence and is_on_whatsapp."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.presences: list[tuple] = []
        self.presence_error: Exception | None = None
        self.checked: list[tuple[str, ...]] = []
        self.answers: list[IsOnWhatsAppResponse] = []
        self.check_error: Exception | None = None

    def send_chat_presence(self, jid, state, media) -> None:
        if self.presence_error is not None:
            raise self.presence_error
        self.presences.append((jid, state, media))

    def is_on_whatsapp(self, *numbers):
        if self.check_error is not None:
            raise self.check_error
        self.checked.append(numbers)
        return self.answers


@pytest.fixture
def linked(make):  # noqa: F811
    """A connected transport and its stand-in client."""
    clients: list[DeliverabilityClient] = []

    def factory(path, client_id):
        clients.append(DeliverabilityClient(path, client_id))
        return clients[-1]

    recorder = Recorder()
    transport = make(recorder, client_factory=factory)
    transport.start()
    client = connecting(clients)
    client.fire(ConnectedEv(status=True))
    recorder.wait_status("connected")
    return transport, client


def test_typing_is_composing_text_and_stopping_is_paused(linked):
    transport, client = linked
    transport.send_presence(f"{THEIR_PHONE}@s.whatsapp.net", True)
    transport.send_presence(THEIR_PHONE, False)
    assert client.presences == [
        (
            build_jid(THEIR_PHONE),
            ChatPresence.CHAT_PRESENCE_COMPOSING,
            ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT,
        ),
        (
            build_jid(THEIR_PHONE),
            ChatPresence.CHAT_PRESENCE_PAUSED,
            ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT,
        ),
    ]


def test_presence_needs_a_connection_and_its_failure_is_a_transport_error(make, linked):  # noqa: F811
    transport, client = linked
    client.presence_error = SendPresenceError("server returned error 401")
    with pytest.raises(TransportError, match="401"):
        transport.send_presence(THEIR_PHONE, True)
    idle = make(Recorder(), client_factory=DeliverabilityClient)
    with pytest.raises(NotConnected):
        idle.send_presence(THEIR_PHONE, True)


def test_numbers_are_asked_with_a_plus_and_the_answers_mapped_back_to_them(linked):
    transport, client = linked
    client.answers = [
        IsOnWhatsAppResponse(Query=f"+{THEIR_PHONE}", JID=user_jid(THEIR_PHONE), IsIn=True),
        IsOnWhatsAppResponse(Query=f"+{OTHER_PHONE}", JID=user_jid(OTHER_PHONE), IsIn=False),
    ]
    found = transport.on_whatsapp([THEIR_PHONE, f"+{OTHER_PHONE}", UNKNOWN_PHONE])
    # WhatsApp said nothing of the third number: it is left out (unknown), not "not on it".
    assert found == {THEIR_PHONE: True, OTHER_PHONE: False}
    assert client.checked == [(f"+{THEIR_PHONE}", f"+{OTHER_PHONE}", f"+{UNKNOWN_PHONE}")]
    assert transport.on_whatsapp([]) == {} and len(client.checked) == 1


def test_a_failed_check_is_a_transport_error(linked):
    transport, client = linked
    client.check_error = IsOnWhatsAppError("usync query failed")
    with pytest.raises(TransportError, match="usync"):
        transport.on_whatsapp([THEIR_PHONE])


def test_an_answer_without_its_query_is_matched_by_its_jid():
    answers = [
        IsOnWhatsAppResponse(JID=user_jid(THEIR_PHONE), IsIn=True),
        IsOnWhatsAppResponse(Query="+6280000000000", IsIn=True),  # not asked: ignored
    ]
    assert map_on_whatsapp(answers, [THEIR_PHONE]) == {THEIR_PHONE: True}


def test_a_failed_typing_presence_never_stops_the_send(linked, redis_client, tmp_path):
    transport, client = linked
    client.presence_error = SendPresenceError("presence refused")
    host = SessionHost(redis_client, derive_key("test key"), store_dir=tmp_path)
    params = {"jid": f"{THEIR_PHONE}@s.whatsapp.net", "text": "Halo", "message_id": 1}
    result = host._paced_send("sess-1", transport, {**params, "typing_ms": 10})
    assert result.wa_message_id == "3EB0SENT"
    assert [message.conversation for _, message in client.sent] == ["Halo"]
