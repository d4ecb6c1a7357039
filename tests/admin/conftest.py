"""An admin logged in through the real login form, for every admin page test."""

from __future__ import annotations

import re

import pytest

# Kabar is imported inside the fixture: this conftest loads before the root conftest has set
# the environment (database, Redis) that Kabar's configuration reads at import.
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def logged_in(app, client):
    """The test client, logged in as ops@example.com; ``client.csrf`` holds a valid token."""
    from webapp.intake import admins

    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")
    token = CSRF.search(client.get("/admin/login").get_data(as_text=True)).group(1)
    r = client.post(
        "/admin/login",
        data={"email": "ops@example.com", "password": "correct horse battery", "csrf_token": token},
    )
    assert r.status_code == 302
    # Logging in starts a new session, so the token is read again from a page.
    client.csrf = CSRF.search(client.get("/admin/").get_data(as_text=True)).group(1)
    return client
