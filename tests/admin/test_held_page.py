"""A held message on the message page and in the message list, in the operator's words."""

from __future__ import annotations

import pytest

from tests.api.test_held_messages_api import capped, held_send  # noqa: F401 - fixture
from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture


@pytest.mark.usefixtures("capped")
def test_the_message_page_and_list_say_it_in_indonesian(app, logged_in, auth):
    message_id = held_send(app, logged_in, auth)
    detail = logged_in.get(f"/admin/messages/{message_id}").get_data(as_text=True)
    assert "menunggu kuota harian, besok 00:00 WIB" in detail
    listed = logged_in.get("/admin/messages").get_data(as_text=True)
    assert "menunggu kuota harian, besok 00:00 WIB" in listed


@pytest.mark.usefixtures("capped")
def test_a_number_at_todays_limit_says_so_on_its_card_and_the_dashboard(logged_in):
    # session-1's daily cap of 1 is spent
    card = logged_in.get("/admin/sessions").get_data(as_text=True)
    assert "batas hari ini tercapai: 1/1" in card
    polled = logged_in.get("/admin/sessions/status.json").get_json()["sessions"][0]
    assert polled["limitReached"] == "batas hari ini tercapai: 1/1"
    assert "batas hari ini tercapai: 1/1" in logged_in.get("/admin/").get_data(as_text=True)


@pytest.mark.usefixtures("capped")
def test_the_bulk_confirmation_says_how_many_go_today(app, logged_in):
    from tests.admin.test_billing_pages import mapped_preview

    page = mapped_preview(logged_in)
    # Two rows to send (one has a wrong number), and session-1 has no allowance left today.
    assert "0 akan terkirim hari ini; 2 menunggu kuota harian, besok 00:00 WIB" in page
