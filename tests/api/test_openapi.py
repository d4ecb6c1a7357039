"""/api/openapi.json describes every API route, and /api/docs shows it from local files."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from webapp.api import openapi

API_BLUEPRINTS = ("api.", "api_compat.", "api_fonnte.")


def _document(client) -> dict:
    response = client.get("/api/openapi.json")  # no API key: integrators read it first
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_document_is_valid_openapi(client):
    document = _document(client)
    validate(document)
    assert document["openapi"].startswith("3.1")
    used = {
        tag for path in document["paths"].values() for op in path.values() for tag in op["tags"]
    }
    assert used == {tag["name"] for tag in document["tags"]}


def test_every_api_route_is_in_the_document(app, client):
    paths = _document(client)["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(API_BLUEPRINTS) or rule.endpoint in openapi.UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method.lower() not in paths.get(path, {}):
                missing.append(f"{method} {path} ({rule.endpoint})")
    assert not missing, "routes missing from webapp/api/openapi.py OPERATIONS: " + ", ".join(
        sorted(missing)
    )
    assert set(openapi.OPERATIONS) <= set(app.view_functions), "entries of no route"


def test_refusals_have_the_error_shape(client):
    document = _document(client)
    error = document["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message"} <= set(error["required"]) and "field" in error["properties"]
    send = document["paths"]["/api/whatsapp/send"]["post"]
    assert send["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert send["security"] == [{"bearerAuth": ["send"]}]
    mpwa = document["paths"]["/send-message"]["get"]
    assert {"mpwaApiKey": []} in mpwa["security"]
    assert {p["name"] for p in mpwa["parameters"]} >= {"number", "message", "sender"}
    assert set(mpwa["responses"]) == {"200", "400", "414", "503"}
    fonnte = document["paths"]["/send"]["post"]
    assert {"fonnteToken": []} in fonnte["security"]
    assert set(fonnte["responses"]) == {"200", "414", "503"}  # Fonnte refuses with a 200
    assert fonnte["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FonnteReply"
    }


def test_each_operation_names_the_scope_it_needs(app):
    paths = openapi.build(app)["paths"]
    assert paths["/api/whatsapp/send"]["post"]["security"] == [{"bearerAuth": ["send"]}]
    assert paths["/api/whatsapp/metrics"]["get"]["security"] == [{"bearerAuth": ["read"]}]
    assert paths["/api/whatsapp/webhooks"]["post"]["security"] == [{"bearerAuth": ["admin"]}]


def test_docs_page_loads_swagger_ui_from_this_server(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/api/docs/") for s in sources), sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.data) > 50, source
    init = client.get("/api/docs/init.js").get_data(as_text=True)
    assert '"/api/openapi.json"' in init
