"""/api/whatsapp/templates: CRUD, the is_active=false case, the 4,096 boundary, warnings,
deleting what a trigger uses, previews, and sending each type."""

from __future__ import annotations

import pytest

from tests.catalogue import catalogue  # noqa: F401 - fixture
from webapp.extensions import db
from webapp.models import WhatsAppMessage

pytestmark = pytest.mark.usefixtures("catalogue")

URL = "/api/whatsapp/templates"


def create(client, auth, **body):
    body = {"name": "promo_ramadan", "category": "promotion", "content": "Halo {{name}}", **body}
    return client.post(URL, headers=auth, json=body)


def by_name(client, auth, name):
    listed = client.get(URL, headers=auth).get_json()["templates"]
    return next((t for t in listed if t["name"] == name), None)


def test_the_built_in_templates_are_listed_with_their_triggers(client, auth):
    invoice = by_name(client, auth, "new_invoice")
    assert invoice["builtIn"] is True and invoice["triggers"] == ["invoice.created"]
    assert invoice["variables"][:2] == ["customer_name", "invoice_number"]
    assert invoice["warnings"] == [] and invoice["isActive"] is True
    assert by_name(client, auth, "payment_reminder")["triggers"] == []


def test_create_read_update_delete(client, auth):
    r = create(client, auth, content="Halo {{name}}, paket {{plan|upper}} Rp{{price|rupiah}}")
    assert r.status_code == 201, r.get_json()
    created = r.get_json()["template"]
    assert created["variables"] == ["name", "plan", "price"]
    assert created["language"] == "id" and created["type"] == "text"
    assert created["isActive"] is True

    path = f"{URL}/{created['id']}"
    assert client.get(path, headers=auth).get_json()["template"]["name"] == "promo_ramadan"

    r = client.put(path, headers=auth, json={"content": "Selamat {{day}}", "category": "reminder"})
    assert r.status_code == 200, r.get_json()
    updated = r.get_json()["template"]
    assert updated["variables"] == ["day"] and updated["category"] == "reminder"
    assert updated["name"] == "promo_ramadan"  # what PUT did not give stays

    r = client.delete(path, headers=auth)
    assert r.status_code == 200 and r.get_json()["deleted"] is True
    assert client.get(path, headers=auth).status_code == 404


@pytest.mark.parametrize("spelling", ["isActive", "is_active"])
def test_is_active_false_stays_false(client, auth, spelling):
    r = create(client, auth, **{spelling: False})
    assert r.status_code == 201
    assert r.get_json()["template"]["isActive"] is False
    template_id = r.get_json()["template"]["id"]
    # An update that says nothing of it keeps it false.
    r = client.put(f"{URL}/{template_id}", headers=auth, json={"content": "Hai {{name}}"})
    assert r.get_json()["template"]["isActive"] is False
    # And an inactive template cannot be sent.
    r = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={"to": "081234567890", "template": "promo_ramadan", "data": {"name": "A"}},
    )
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "unknown_template"


def test_a_name_is_unique(client, auth):
    assert create(client, auth).status_code == 201
    r = create(client, auth)
    assert r.status_code == 409 and r.get_json()["error"]["field"] == "name"


def test_4096_characters_are_accepted_and_4097_refused(client, auth):
    assert create(client, auth, name="long_ok", content="x" * 4096).status_code == 201
    r = create(client, auth, name="too_long", content="x" * 4097)
    assert r.status_code == 422
    assert r.get_json()["error"] == {
        "code": "message_too_long",
        "message": "content has 4097 characters; WhatsApp allows 4096",
        "fields": {"content": ["content has 4097 characters; WhatsApp allows 4096"]},
        "field": "content",
    }


def test_spam_patterns_are_accepted_with_warnings(client, auth):
    r = create(client, auth, content="PROMO!!!!!!!!!!!! Klik https://promo.example/x {{name}}")
    assert r.status_code == 201
    codes = sorted(w["code"] for w in r.get_json()["warnings"])
    assert codes == ["repeated_character", "url"]
    template_id = r.get_json()["template"]["id"]
    shown = client.get(f"{URL}/{template_id}", headers=auth).get_json()["template"]
    assert len(shown["warnings"]) == 2


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"category": "spam"}, 400, "category"),
        ({"type": "video"}, 400, "type"),
        ({"name": "bad name!"}, 422, "name"),
        ({"content": "Rp{{amount|idr}}"}, 422, "content"),
        ({"content": "   "}, 422, "content"),
        ({"type": "media"}, 422, "mediaUrl"),
        ({"type": "button", "buttons": []}, 422, "buttons"),
        ({"isActive": None}, 400, "isActive"),
    ],
)
def test_refused_templates_name_the_field(client, auth, body, status, field):
    r = create(client, auth, **body)
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["field"] == field


def test_a_template_a_trigger_uses_cannot_be_deleted(client, auth):
    invoice = by_name(client, auth, "new_invoice")
    r = client.delete(f"{URL}/{invoice['id']}", headers=auth)
    assert r.status_code == 409 and "invoice.created" in r.get_json()["error"]["message"]
    # but it stays editable
    r = client.put(
        f"{URL}/{invoice['id']}",
        headers=auth,
        json={"content": invoice["content"] + "\n\nSalam, Kabar Net"},
    )
    assert r.status_code == 200


def test_a_built_in_template_no_trigger_uses_can_be_deleted(client, auth):
    reminder = by_name(client, auth, "payment_reminder")
    assert client.delete(f"{URL}/{reminder['id']}", headers=auth).status_code == 200


def test_deleting_a_template_keeps_the_messages_sent_with_it(app, client, auth):
    template_id = create(client, auth).get_json()["template"]["id"]
    r = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={"to": "081234567890", "template": "promo_ramadan", "data": {"name": "A"}},
    )
    assert r.status_code == 202
    assert client.delete(f"{URL}/{template_id}", headers=auth).status_code == 200
    with app.app_context():
        message = db.session.get(WhatsAppMessage, r.get_json()["id"])
        assert message.content == "Halo A" and message.template_id is None


def test_preview_by_name_and_by_id(client, auth):
    r = client.post(
        f"{URL}/preview",
        headers=auth,
        json={
            "name": "voucher_activated",
            "data": {"voucher_code": "HS-1", "duration": "30 hari", "note": "x"},
        },
    )
    assert r.status_code == 200, r.get_json()
    shown = r.get_json()
    assert "🔑 Kode: HS-1" in shown["message"] and "{{expiry_time}}" in shown["message"]
    assert shown["missing"] == ["expiry_time"] and shown["unused"] == ["note"]
    invoice = by_name(client, auth, "new_invoice")
    r = client.post(f"{URL}/preview", headers=auth, json={"templateId": invoice["id"]})
    assert r.get_json()["missing"] == invoice["variables"]


def test_preview_needs_a_template(client, auth):
    r = client.post(f"{URL}/preview", headers=auth, json={"data": {}})
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "templateId"
    r = client.post(f"{URL}/preview", headers=auth, json={"name": "nope"})
    assert r.status_code == 404


def test_media_goes_out_as_media_and_buttons_and_lists_as_text(app, client, auth):
    bodies = {
        "kirim_gambar": {
            "type": "media",
            "content": "Struk {{n}}",
            "mediaUrl": "https://cdn.example/{{n}}.jpg",
        },
        "kirim_tombol": {"type": "button", "content": "Perpanjang?", "buttons": ["Ya", "Tidak"]},
        "kirim_daftar": {
            "type": "list",
            "content": "Paket:",
            "buttonText": "Pilih",
            "sections": [{"title": "Rumah", "rows": [{"title": "10 Mbps"}]}],
            "footer": "Kabar Net",
        },
    }
    sent = {}
    for name, body in bodies.items():
        r = create(client, auth, name=name, **body)
        assert r.status_code == 201, r.get_json()
        r = client.post(
            "/api/whatsapp/send",
            headers=auth,
            json={"to": "081234567890", "template": name, "data": {"n": "7"}},
        )
        assert r.status_code == 202, r.get_json()
        sent[name] = r.get_json()["id"]
    with app.app_context():
        rows = {name: db.session.get(WhatsAppMessage, i) for name, i in sent.items()}
        media = rows["kirim_gambar"]
        # A media template goes out as an image with its content as the caption.
        assert media.content == "Struk 7"
        assert media.media_url == "https://cdn.example/7.jpg" and media.message_type == "media"
        assert (media.media_type, media.render_mode) == ("image", "media")
        assert rows["kirim_tombol"].content == "Perpanjang?\n\n1. Ya\n2. Tidak"
        assert rows["kirim_daftar"].content == "Paket:\n\nPilih:\n*Rumah*\n1. 10 Mbps\n\nKabar Net"
        assert {rows[n].render_mode for n in ("kirim_tombol", "kirim_daftar")} == {"text"}


def test_a_filter_that_cannot_read_its_value_refuses_the_send(client, auth):
    create(client, auth, content="Tagihan Rp{{amount|rupiah}}")
    r = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={"to": "081234567890", "template": "promo_ramadan", "data": {"amount": "seratus"}},
    )
    assert r.status_code == 422
    assert r.get_json()["error"]["code"] == "invalid_variable"
    assert r.get_json()["error"]["field"] == "data.amount"


def test_the_built_in_invoice_template_formats_its_amount_and_date(client, auth):
    r = client.post(
        "/api/whatsapp/templates/preview",
        headers=auth,
        json={
            "name": "new_invoice",
            "data": {
                "customer_name": "Budi",
                "invoice_number": "INV-1",
                "amount": 250000,
                "due_date": "2026-12-10",
                "payment_url": "https://pay.example/1",
            },
        },
    )
    assert r.status_code == 200, r.get_json()
    assert "Rp250.000" in r.get_json()["message"]
    assert "10 Desember 2026" in r.get_json()["message"]
