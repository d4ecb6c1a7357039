"""Fonnte's /send: what an app written for Fonnte sends is queued as Kabar queues a single send,
one row per target, and answered in Fonnte's shape; what Kabar refuses is answered in that shape
too (HTTP 200, ``status: false`` and a ``reason`` naming the field), with nothing queued."""

from __future__ import annotations

import time

import pytest

from tests.api.test_mpwa import URGENT_QUEUE, nothing_queued  # noqa: F401 - a fixture
from webapp.compat.log_redaction import MASKED, REDACTED, redact
from webapp.extensions import db
from webapp.intake import api_keys
from webapp.models import ApiKey, WhatsAppMessage


def _stored(app, message_id: str) -> WhatsAppMessage:
    with app.app_context():
        message = db.session.get(WhatsAppMessage, int(message_id))
        db.session.expunge(message)
        return message


def _ok(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] is True, body
    assert body["detail"] and body["process"] == "pending", body
    assert len(body["id"]) == len(body["target"]), body
    return body


def _refused(response, field: str | None) -> dict:
    """Fonnte's refusal: HTTP 200, ``status: false``, the reason naming the field."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] is False and "id" not in body, body
    assert body.get("field") == field, body
    if field:
        assert body["reason"].startswith(f"{field}: "), body
    return body


def _token(api_key: str) -> dict[str, str]:
    return {"Authorization": api_key}


class TestAccepted:
    def test_a_form_post_with_the_token_header_queues_an_urgent_text(
        self, app, client, api_key, redis_client
    ):
        r = client.post(
            "/send",
            headers=_token(api_key),
            data={"target": "081234567890", "message": "Tagihan Anda Rp 150.000"},
        )
        body = _ok(r)
        assert body["target"] == ["6281234567890"]
        (message_id,) = body["id"]
        assert isinstance(message_id, str)  # Fonnte's ids are strings
        stored = _stored(app, message_id)
        assert stored.content == "Tagihan Anda Rp 150.000"
        assert stored.band == "urgent" and stored.to_number == "6281234567890"
        assert redis_client.hlen(URGENT_QUEUE) == 1

    def test_several_targets_with_names_and_variables(self, app, client, api_key):
        r = client.post(
            "/send",
            headers=_token(api_key),
            data={
                "target": "081234567890|Budi|INV-1|150.000, 081234567891|Sari,081234567890|Dup",
                "message": "Halo {name}, tagihan {var1} sebesar Rp {var2}",
            },
        )
        body = _ok(r)
        assert body["target"] == ["6281234567890", "6281234567891"]
        first, second = (_stored(app, i).content for i in body["id"])
        assert first == "Halo Budi, tagihan INV-1 sebesar Rp 150.000"
        # A variable the target lacks stays as typed, as Fonnte leaves it.
        assert second == "Halo Sari, tagihan {var1} sebesar Rp {var2}"

    def test_json_body_bearer_header_and_country_code(self, app, client, api_key):
        r = client.post(
            "/send",
            headers={"Authorization": f"Bearer {api_key}"},
            json={"target": "0123456789", "message": "Selamat", "countryCode": "60"},
        )
        assert _ok(r)["target"] == ["60123456789"]

    def test_the_get_variant_takes_the_token_in_the_query(self, app, client, api_key):
        r = client.get(f"/send?token={api_key}&target=6281234567890&message=Halo&delay=1-10")
        assert _stored(app, _ok(r)["id"][0]).content == "Halo"

    def test_a_token_in_the_form_body(self, app, client, api_key):
        r = client.post(
            "/send", data={"token": api_key, "target": "081234567890", "message": "Halo"}
        )
        _ok(r)

    @pytest.mark.parametrize("schedule", ["0", "", str(int(time.time()) - 3600)])
    def test_a_schedule_of_now_or_past_is_sent_now(self, client, api_key, schedule):
        r = client.post(
            "/send",
            headers=_token(api_key),
            data={"target": "081234567890", "message": "Halo", "schedule": schedule},
        )
        _ok(r)

    def test_the_key_is_recorded_as_used_via_fonnte(self, app, client, api_key):
        fields = {"target": "081234567890", "message": "x"}
        _ok(client.post("/send", headers=_token(api_key), data=fields))
        with app.app_context():
            assert db.session.scalar(db.select(ApiKey.last_used_via)) == "fonnte"


@pytest.mark.usefixtures("nothing_queued")
class TestRefused:
    def test_no_token(self, client):
        r = client.post("/send", data={"target": "081234567890", "message": "Halo"})
        assert "give a Kabar API key as token" in _refused(r, "token")["reason"]

    def test_wrong_token(self, client):
        r = client.post(
            "/send", headers=_token("kbr_wrong"), data={"target": "081234567890", "message": "x"}
        )
        assert "wrong or revoked" in _refused(r, "token")["reason"]

    def test_a_token_without_the_send_scope(self, app, client):
        with app.app_context():
            _, reader = api_keys.create_api_key("reader", ("read",))
        r = client.post(
            "/send", headers=_token(reader), data={"target": "081234567890", "message": "x"}
        )
        assert _refused(r, "token")["reason"] == "token: this key lacks the send scope"

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"message": "x"}, "target"),
            ({"target": " , ", "message": "x"}, "target"),
            ({"target": "0812", "message": "x"}, "target"),
            ({"target": "081234567890,12", "message": "x"}, "target.1"),
            ({"target": "120363012345678901@g.us", "message": "x"}, "target"),
            ({"target": "081234567890"}, "message"),
            ({"target": "081234567890", "message": "a" * 4097}, "message"),
            ({"target": "081234567890|Budi", "message": "{name}" + "a" * 4093}, "message"),
            ({"target": "081234567890", "message": "x", "countryCode": "+62"}, "countryCode"),
            ({"target": "081234567890", "message": "x", "delay": "soon"}, "delay"),
            ({"target": "081234567890", "message": "x", "schedule": "tomorrow"}, "schedule"),
            ({"target": "081234567890", "url": "ftp://isp.example/a.pdf"}, "url"),
            ({"target": "081234567890", "message": "x", "location": "-7.9,112.6"}, "location"),
            ({"target": "081234567890", "message": "x", "choices": "a,b"}, "choices"),
        ],
    )
    def test_what_cannot_be_sent_is_refused_naming_the_field(self, client, api_key, fields, field):
        _refused(client.post("/send", headers=_token(api_key), data=fields), field)

    def test_a_target_whose_variables_leave_the_message_empty_queues_none_of_them(
        self, client, api_key
    ):
        r = client.post(
            "/send",
            headers=_token(api_key),
            data={"target": "081234567890|Budi,081234567891|", "message": "{name}"},
        )
        assert "empty" in _refused(r, "target.1")["reason"]

    def test_a_schedule_in_the_future_is_refused_not_sent_early(self, client, api_key):
        later = str(int(time.time()) + 3600)
        r = client.post(
            "/send",
            headers=_token(api_key),
            data={"target": "081234567890", "message": "x", "schedule": later},
        )
        assert "does not schedule" in _refused(r, "schedule")["reason"]

    def test_an_uploaded_file_is_refused(self, client, api_key):
        from io import BytesIO

        r = client.post(
            "/send",
            headers=_token(api_key),
            data={"target": "081234567890", "file": (BytesIO(b"%PDF-1.4"), "a.pdf")},
            content_type="multipart/form-data",
        )
        _refused(r, "file")

    def test_refusals_follow_accept_language(self, client):
        r = client.post("/send", headers={"Accept-Language": "id"}, data={"target": "0812"})
        assert r.get_json()["reason"] == "token: tidak ada; isi kunci API Kabar sebagai token"

    @pytest.mark.parametrize("escaped", ["\\u0000", "\\ud800"])
    def test_a_later_target_whose_variable_cannot_be_stored_queues_none_of_them(
        self, client, api_key, escaped
    ):
        body = (
            f'{{"target": "081234567890|Budi,081234567891|Sa{escaped}ri", '
            '"message": "Halo {name}"}'
        )
        r = client.post(
            "/send", headers=_token(api_key), data=body, content_type="application/json"
        )
        _refused(r, "target")

    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
    def test_other_methods_are_refused_in_fonntes_shape(self, client, method):
        body = _refused(
            client.open("/send", method=method, headers={"Accept-Language": "id"}), None
        )
        assert body["reason"] == f"pakai GET atau POST untuk /send, bukan {method}"

    def test_malformed_json(self, client, api_key):
        r = client.post(
            "/send", headers=_token(api_key), data='{"target": ', content_type="application/json"
        )
        _refused(r, "body")

    def test_a_large_body_without_a_token_is_refused_before_it_is_decoded(self, client):
        body = b"[" + b"{}," * 200_000 + b"{}]"
        r = client.post("/send", data=body, content_type="application/json")
        assert r.get_json() == {
            "status": False,
            "field": "body",
            "reason": "body: the request body is larger than 128 KB",
        }


def test_a_get_send_keeps_the_token_number_and_text_out_of_request_logs(api_key):
    line = (
        f'"GET /send?token={api_key}&target=081234567890|Budi&message=Tagihan+Rp+150.000 HTTP/1.1"'
    )
    logged = redact(line)
    assert api_key not in logged and "081234567890" not in logged and "Budi" not in logged
    assert logged.startswith(f'"GET /send?token={REDACTED}&target={MASKED}&message={MASKED}')
