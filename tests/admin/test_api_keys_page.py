"""The API keys page: login required, every key with how it was last used, never a raw key."""

from __future__ import annotations

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
