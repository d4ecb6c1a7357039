"""Webhooks: subscriptions, deliveries queued only after a commit, signed POSTs to a real HTTP
receiver on localhost, and the last result kept on the webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.receivers import dramatiq_messages, free_port, webhook_receiver
from webapp import settings
from webapp.core.errors import KabarError, NotFound
from webapp.extensions import db
from webapp.intake import messages
from webapp.models import Webhook
from workers.pipeline import webhooks


@pytest.fixture
def ctx(app):
    with app.app_context():
        webhooks.forget_subscriptions()
        yield
        db.session.rollback()


def queued_deliveries(redis_client) -> list[list]:
    return [m["args"] for m in dramatiq_messages(redis_client, "maintenance", "deliver_webhook")]


def webhook(webhook_id: int) -> Webhook:
    db.session.expire_all()
    return db.session.get(Webhook, webhook_id)


class TestTheList:
    def test_a_webhook_gets_a_fresh_secret_and_both_events_by_default(self, ctx, private_webhooks):
        first, secret = webhooks.create_webhook("https://billing.example/hooks/kabar")
        second, other = webhooks.create_webhook("http://10.0.0.2:8080/x", ["message.incoming"])
        assert len(secret) == 64 and secret != other
        assert first.events == ["message.status", "message.incoming"]
        assert [w.id for w in webhooks.list_webhooks()] == [first.id, second.id]

    @pytest.mark.parametrize(
        "url", ["ftp://x.example/", "billing.example/hook", "http://", "", "http://a..b/hook"]
    )
    def test_only_http_urls_with_a_host_are_taken(self, ctx, url):
        with pytest.raises(KabarError) as refused:
            webhooks.create_webhook(url)
        assert refused.value.field == "url"

    @pytest.mark.parametrize("url", [
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "http://[::ffff:169.254.169.254]/",  # the same, written as IPv6
        "http://[fe80::1]/hook",
        "http://0.0.0.0:8080/",
        "http://224.0.0.1/",
    ])  # fmt: skip
    def test_link_local_and_reserved_addresses_are_refused(self, ctx, url):
        with pytest.raises(KabarError) as refused:
            webhooks.create_webhook(url)
        assert refused.value.field == "url" and "does not post to" in refused.value.message

    def test_loopback_and_lan_addresses_only_while_the_setting_allows(self, ctx):
        lan = (
            "http://127.0.0.1:8069/kabar",
            "http://localhost/x",
            "http://10.1.2.3/",
            "http://192.168.88.10/kabar",
            "http://[::1]/x",
            "http://[fd12:3456::1]/x",
        )
        for url in lan:  # refused by default
            with pytest.raises(KabarError, match="private"):
                webhooks.create_webhook(url)
        settings.save({"webhook_allow_private": True})
        webhooks.create_webhook("http://127.0.0.1:8069/kabar")  # billing app on this server
        webhooks.create_webhook("http://192.168.88.10/kabar")  # ... or on the LAN

    @pytest.mark.parametrize("url", [
        "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud
        "http://[fd00:ec2::254]/latest/meta-data/",  # AWS over IPv6
        "http://168.63.129.16/machine?comp=goalstate",  # Azure WireServer
        "http://192.0.0.192/",  # Oracle Cloud
        "http://169.254.170.2/v2/credentials",  # AWS ECS task role
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata.google.internal./computeMetadata/v1/",
        "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, IPv4-mapped in hex
        "http://[64:ff9b::a9fe:a9fe]/",  # ... through NAT64
        "http://[2002:a9fe:a9fe::1]/",  # ... as 6to4
        "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",  # ... as a Teredo client
        "http://[64:ff9b:1::a9fe:a9fe]/",  # ... through a site's own NAT64 (RFC 8215)
        "http://[fe80::1%25eth0]/",  # link-local with a zone, as a URL writes it
    ])  # fmt: skip
    def test_cloud_metadata_addresses_are_refused_even_with_private_addresses_allowed(
        self, ctx, url
    ):
        settings.save({"webhook_allow_private": True})
        with pytest.raises(KabarError) as refused:
            webhooks.create_webhook(url)
        assert refused.value.field == "url" and "metadata" in refused.value.message

    @pytest.mark.parametrize("url", [
        "http://[::ffff:127.0.0.1]:8069/",  # IPv4-mapped
        "http://[::ffff:10.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::c0a8:5801]/",  # ... of 192.168.88.1
        "http://[2002:c0a8:5801::1]/",  # 6to4 of 192.168.88.1
        "http://[2002:6440:101::]/",  # 6to4 of 100.64.1.1 (CGNAT)
        "http://[::127.0.0.1]/",  # IPv4-compatible
    ])  # fmt: skip
    def test_private_ipv4_inside_ipv6_is_private(self, ctx, url):
        with pytest.raises(KabarError, match="private"):
            webhooks.create_webhook(url)
        settings.save({"webhook_allow_private": True})
        webhooks.create_webhook(url)

    def test_a_public_ipv4_inside_ipv6_is_allowed(self, ctx):
        for url in ("http://[::ffff:1.1.1.1]/", "http://[64:ff9b::101:101]/",
                    "http://[2002:101:101::1]/"):  # fmt: skip
            webhooks.create_webhook(url)

    @pytest.mark.parametrize("address", ["100.64.1.1", "100.127.255.254"])
    def test_carrier_grade_nat_addresses_count_as_private(self, ctx, address):
        with pytest.raises(KabarError) as refused:
            webhooks.create_webhook(f"http://{address}/kabar")
        assert refused.value.field == "url"
        assert f"({address}, a private address)" in refused.value.message
        settings.save({"webhook_allow_private": True})
        webhooks.create_webhook(f"http://{address}/kabar")  # a billing app inside the ISP

    def test_an_unknown_event_is_refused(self, ctx):
        with pytest.raises(KabarError) as refused:
            webhooks.create_webhook("https://x.example/", ["message.deleted"])
        assert refused.value.field == "events"

    def test_a_deleted_webhook_is_gone(self, ctx):
        created, _ = webhooks.create_webhook("https://x.example/")
        webhooks.delete_webhook(created.id)
        with pytest.raises(NotFound):
            webhooks.get_webhook(created.id)


class TestEvents:
    def test_a_status_change_is_queued_for_each_subscriber_after_commit(self, ctx, redis_client):
        status_hook, _ = webhooks.create_webhook("https://a.example/", ["message.status"])
        webhooks.create_webhook("https://b.example/", ["message.incoming"])
        both, _ = webhooks.create_webhook("https://c.example/")
        message = messages.queue_message("0812-3456-7890", text="Halo").message

        webhooks.message_status(message.id, "sent")
        assert queued_deliveries(redis_client) == []  # nothing before the commit
        db.session.commit()

        queued = queued_deliveries(redis_client)
        assert [args[0] for args in queued] == [status_hook.id, both.id]
        (webhook_id, event, delivery_id, body), _ = queued
        assert event == "message.status"
        payload = json.loads(body)
        assert payload["event"] == "message.status" and payload["deliveryId"] == delivery_id
        assert payload["data"]["id"] == message.id
        assert payload["data"]["status"] == "sent"
        assert payload["data"]["to"] == "6281234567890"
        assert queued[0][3] == queued[1][3]  # one body, signed per webhook at delivery

    def test_a_rolled_back_change_is_told_to_no_one(self, ctx, redis_client):
        webhooks.create_webhook("https://a.example/")
        message = messages.queue_message("0812-3456-7890", text="Halo").message
        webhooks.message_status(message.id, "failed")
        db.session.rollback()
        db.session.commit()
        assert queued_deliveries(redis_client) == []

    def test_a_step_overtaken_by_a_receipt_is_not_told(self, ctx, redis_client):
        webhooks.create_webhook("https://a.example/")
        message = messages.queue_message("0812-3456-7890", text="Halo").message
        message.status = "delivered"
        db.session.commit()
        webhooks.message_status(message.id, "sent")
        db.session.commit()
        assert queued_deliveries(redis_client) == []

    def test_nothing_is_queued_without_a_subscriber(self, ctx, redis_client):
        webhooks.create_webhook("https://a.example/", ["message.status"])
        webhooks.incoming({"from": "6281234567890", "text": "hai"})
        db.session.commit()
        assert queued_deliveries(redis_client) == []

    def test_the_subscriptions_are_cached_for_a_few_seconds(self, app, ctx, monkeypatch):
        monkeypatch.setitem(app.config, "WEBHOOK_CACHE_S", 60)
        assert webhooks.subscribers("message.status") == []
        # Another process adds a webhook: this one sees it once its cache expires.
        db.session.add(Webhook(url="https://a.example/", events=["message.status"], secret="s"))
        db.session.commit()
        assert webhooks.subscribers("message.status") == []
        webhooks.forget_subscriptions()
        assert len(webhooks.subscribers("message.status")) == 1


@pytest.mark.usefixtures("private_webhooks")
class TestDelivery:
    BODY = json.dumps({"event": "message.incoming", "data": {"text": "Halo ✓"}})

    def test_a_delivery_is_signed_with_the_webhooks_secret(self, ctx):
        with webhook_receiver() as receiver:
            created, secret = webhooks.create_webhook(receiver.url)
            outcome = webhooks.deliver(created.id, "message.incoming", "d-1", self.BODY)
        assert outcome == "delivered"
        (delivery,) = receiver.received()
        expected = hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        assert delivery.headers["x-kabar-signature"] == f"sha256={expected}"
        assert delivery.body == self.BODY.encode()
        assert delivery.headers["x-kabar-event"] == "message.incoming"
        assert delivery.headers["x-kabar-delivery"] == "d-1"
        assert delivery.headers["content-type"] == "application/json"
        stored = webhook(created.id)
        assert (stored.last_status_code, stored.last_error, stored.delivery_count) == (200, None, 1)
        assert stored.last_success_at == stored.last_attempt_at

    def test_a_server_error_is_recorded_and_raised_for_a_retry(self, ctx):
        with webhook_receiver([503]) as receiver:
            created, _ = webhooks.create_webhook(receiver.url)
            with pytest.raises(webhooks.DeliveryFailed):
                webhooks.deliver(created.id, "message.status", "d-2", self.BODY)
        stored = webhook(created.id)
        assert (stored.last_status_code, stored.last_error) == (503, "HTTP 503")
        assert (stored.failure_count, stored.delivery_count) == (1, 0)

    def test_a_client_error_is_final(self, ctx):
        with webhook_receiver([404]) as receiver:
            created, _ = webhooks.create_webhook(receiver.url)
            assert webhooks.deliver(created.id, "message.status", "d-3", self.BODY) == "rejected"
        assert webhook(created.id).last_status_code == 404

    def test_an_unreachable_receiver_is_retried(self, ctx):
        created, _ = webhooks.create_webhook(f"http://127.0.0.1:{free_port()}/hook")
        with pytest.raises(webhooks.DeliveryFailed):
            webhooks.deliver(created.id, "message.status", "d-4", self.BODY)
        stored = webhook(created.id)
        assert stored.last_status_code is None and "Connection" in stored.last_error

    def test_an_address_refused_since_the_webhook_was_made_is_not_posted_to(self, ctx):
        with webhook_receiver() as receiver:
            created, _ = webhooks.create_webhook(receiver.url)
            settings.save({"webhook_allow_private": False})
            outcome = webhooks.deliver(created.id, "message.status", "d-6", self.BODY)
            assert receiver.received() == []
        assert outcome == "rejected"
        assert "not posted: 127.0.0.1" in webhook(created.id).last_error

    def test_a_name_answering_a_refused_address_is_never_connected_to(self, ctx):
        with webhook_receiver() as receiver:
            port = urlsplit(receiver.url).port
            created, _ = webhooks.create_webhook(f"http://localhost:{port}/hook")
            settings.save({"webhook_allow_private": False})
            outcome = webhooks.deliver(created.id, "message.status", "d-7", self.BODY)
            assert receiver.received() == []
        assert outcome == "rejected"  # final: not raised for a retry
        stored = webhook(created.id)
        assert stored.last_error.startswith("not posted: localhost (")
        assert "a private address" in stored.last_error
        assert (stored.last_status_code, stored.failure_count) == (None, 1)

    def test_the_connection_goes_to_the_address_that_was_vetted(self, ctx, monkeypatch):
        """A rebinding name answers the receiver's address to the lookups at creation and at
        delivery, then the metadata service: a later lookup must never choose the connection."""
        resolve, lookups = socket.getaddrinfo, []

        def rebinding_dns(host, port, *args, **kwargs):
            if host != "rebind.example":
                return resolve(host, port, *args, **kwargs)
            lookups.append(host)
            answer = "127.0.0.1" if len(lookups) <= 2 else "169.254.169.254"
            return resolve(answer, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
        with webhook_receiver() as receiver:
            port = urlsplit(receiver.url).port
            created, _ = webhooks.create_webhook(f"http://rebind.example:{port}/hook")
            outcome = webhooks.deliver(created.id, "message.status", "d-8", self.BODY)
            assert len(receiver.received()) == 1
        assert outcome == "delivered" and len(lookups) == 2

    def test_a_stored_url_that_cannot_be_encoded_is_refused_for_good(self, ctx):
        created, _ = webhooks.create_webhook("https://x.example/hook")
        db.session.execute(db.update(Webhook).values(url="http://a..b/hook"))  # an old row
        db.session.commit()
        assert webhooks.deliver(created.id, "message.status", "d-9", self.BODY) == "rejected"
        assert "cannot be used" in webhook(created.id).last_error

    def test_a_delivery_for_a_deleted_webhook_is_dropped(self, ctx):
        assert webhooks.deliver(424242, "message.status", "d-5", self.BODY) == "gone"
