"""A held message on the message page and in the message list, in the operator's words."""

from __future__ import annotations

from tests.api.test_held_messages_api import capped, held_send  # noqa: F401 - fixture
from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture


def test_the_message_page_and_list_say_it_in_indonesian(app, logged_in, auth, capped):  # noqa: F811
    message_id = held_send(app, logged_in, auth)
    detail = logged_in.get(f"/admin/messages/{message_id}").get_data(as_text=True)
    assert "menunggu kuota harian, besok 00:00 WIB" in detail
    listed = logged_in.get("/admin/messages").get_data(as_text=True)
    assert "menunggu kuota harian, besok 00:00 WIB" in listed
