"""``templateId`` (and ``template``) name a template by its name or its id wherever the API
takes one; an id no row can have (past PostgreSQL's integer, negative, 1e30) is "not found",
never a 500, in a body or a path."""

from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppTemplate

URL = "/api/whatsapp/templates"
BAD_IDS = [2**63, 2**31, -1, 0, 1e30, 1.5]
BAD_PATH_IDS = ["9223372036854775808", "2147483648", "-1", "1e30", "٣", "²"]
VOUCHER = {"voucher_code": "V1", "duration": "30 hari", "expiry_time": "1-1-2027"}


def template_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(
            db.select(WhatsAppTemplate.id).where(WhatsAppTemplate.name == name)
        )


def test_the_seed_example_previews_a_template_by_its_name(client, auth):
    r = client.post(
        f"{URL}/preview",
        headers=auth,
        json={"templateId": "payment_reminder", "data": {"customer_name": "Budi"}},
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["template"] == "payment_reminder" and "Budi" in r.get_json()["message"]


@pytest.mark.parametrize("as_text", [False, True])
def test_a_preview_takes_the_id_as_a_number_or_as_text(app, client, auth, as_text):
    wanted = template_id(app, "payment_reminder")
    reference = str(wanted) if as_text else wanted
    r = client.post(f"{URL}/preview", headers=auth, json={"templateId": reference})
    assert r.status_code == 200 and r.get_json()["template"] == "payment_reminder"


@pytest.mark.parametrize("reference", [*BAD_IDS, "no_such_template"])
def test_a_preview_of_a_template_that_cannot_exist_is_not_found(client, auth, reference):
    r = client.post(f"{URL}/preview", headers=auth, json={"templateId": reference})
    assert r.status_code == 404, r.get_data(as_text=True)
    assert r.get_json()["error"]["field"] == "templateId"


@pytest.mark.parametrize("reference", [True, None, [], {}, "", " " * 3, "x" * 101])
def test_a_template_reference_of_another_kind_is_a_validation_error(client, auth, reference):
    r = client.post(f"{URL}/preview", headers=auth, json={"templateId": reference})
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "templateId"


@pytest.mark.parametrize("key", ["template", "templateId"])
def test_a_send_names_its_template_by_name_or_id(app, client, auth, key):
    for reference in ("voucher_activated", template_id(app, "voucher_activated")):
        r = client.post(
            "/api/whatsapp/send",
            headers=auth,
            json={"to": "0812-3456-7890", key: reference, "data": VOUCHER},
        )
        assert r.status_code == 202, r.get_json()
    with app.app_context():
        contents = list(db.session.scalars(db.select(WhatsAppMessage.content)))
    assert len(contents) == 2 and all("V1" in text for text in contents)


@pytest.mark.parametrize("reference", [*BAD_IDS, "no_such_template"])
def test_a_send_to_a_template_that_cannot_exist_is_refused(app, client, auth, reference):
    r = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={"to": "0812-3456-7890", "templateId": reference, "data": VOUCHER},
    )
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.get_json()["error"] | {"message": None} == {
        "code": "unknown_template",
        "field": "templateId",
        "fields": r.get_json()["error"]["fields"],
        "message": None,
    }


def test_a_send_gives_one_template_not_two(client, auth):
    r = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={"to": "0812-3456-7890", "template": "a", "templateId": 3, "data": VOUCHER},
    )
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "templateId"


@pytest.mark.parametrize("key", ["template", "templateId"])
def test_a_bulk_names_its_template_by_name_or_id(app, client, auth, key):
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json={
            "recipients": [{"whatsapp": "0812-3456-7890"}],
            key: template_id(app, "voucher_activated"),
            "templateData": VOUCHER,
        },
    )
    assert r.status_code == 202, r.get_json()
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json={"recipients": [{"whatsapp": "0812-3456-7890"}], key: 2**63},
    )
    assert r.status_code == 422 and r.get_json()["error"]["field"] == key


@pytest.mark.parametrize("bad", BAD_PATH_IDS)
def test_ids_in_paths_that_no_row_can_have_are_not_found(client, auth, bad):
    for method, path in [
        ("get", f"{URL}/{bad}"),
        ("put", f"{URL}/{bad}"),
        ("delete", f"{URL}/{bad}"),
        ("get", f"/api/whatsapp/message/{bad}/status"),
        ("post", f"/api/whatsapp/message/{bad}/resend"),
        ("post", f"/api/whatsapp/message/{bad}/cancel"),
        ("get", f"/api/whatsapp/webhooks/{bad}"),
        ("delete", f"/api/whatsapp/webhooks/{bad}"),
    ]:
        body = {"content": "Halo"} if method == "put" else None
        r = getattr(client, method)(path, headers=auth, json=body)
        assert r.status_code == 404, (method, path, r.get_data(as_text=True))
        assert r.get_json()["error"]["code"] == "not_found"
