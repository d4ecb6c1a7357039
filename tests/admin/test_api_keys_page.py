"""The API keys page: login required, every key with how it was last used, never a raw key."""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import ApiKey
from webapp.services import api_keys


def test_the_page_needs_a_login(client):
    r = client.get("/admin/api-keys")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_keys_are_listed_with_how_they_were_used(app, logged_in):
    with app.app_context():
        _, billing = api_keys.create_api_key("phpnuxbill")
        _, crm = api_keys.create_api_key("crm")
        api_keys.create_api_key("unused")
        api_keys.authenticate(billing, via="mpwa")
        api_keys.authenticate(crm, via="api")
    page = logged_in.get("/admin/api-keys").get_data(as_text=True)
    rows = {
        name: page[page.index(f"<td>{name}</td>") :].split("</tr>", 1)[0]
        for name in ("phpnuxbill", "crm", "unused")
    }
    assert "MPWA /send-message" in rows["phpnuxbill"] and billing[:10] in rows["phpnuxbill"]
    assert "JSON API (Bearer)" in rows["crm"]
    assert "MPWA" not in rows["unused"] and "Bearer" not in rows["unused"]
    assert billing not in page and crm not in page


def test_a_key_made_on_the_page_is_shown_once_and_works_until_revoked(app, client, logged_in):
    import re

    r = logged_in.post("/admin/api-keys", data={"name": "gembok", "csrf_token": logged_in.csrf})
    assert r.status_code == 201
    raw = re.search(r'<code id="new-key">([^<]+)</code>', r.get_data(as_text=True)).group(1)
    assert raw not in logged_in.get("/admin/api-keys").get_data(as_text=True)
    auth = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/whatsapp/sessions", headers=auth).status_code == 200
    with app.app_context():
        key_id = db.session.scalar(db.select(ApiKey.id).where(ApiKey.name == "gembok"))
    logged_in.post(f"/admin/api-keys/{key_id}/revoke", data={"csrf_token": logged_in.csrf})
    assert client.get("/api/whatsapp/sessions", headers=auth).status_code == 401
    r = logged_in.post(f"/admin/api-keys/{key_id}/revoke", data={"csrf_token": logged_in.csrf},
                       follow_redirects=True)
    assert "sudah dicabut" in r.get_data(as_text=True)


def test_a_key_without_a_name_is_a_form_error(logged_in):
    r = logged_in.post("/admin/api-keys", data={"name": " ", "csrf_token": logged_in.csrf})
    assert r.status_code == 400 and "1–100" in r.get_data(as_text=True)
