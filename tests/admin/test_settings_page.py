"""The settings page: groups saved one at a time, refusals shown at the field with nothing saved,
the SMTP password never in the page, and a test e-mail that reaches a real SMTP server."""

from __future__ import annotations

import html
import re

import pytest

from tests.receivers import free_port, smtp_inbox
from webapp import settings
from webapp.extensions import db
from webapp.models import Setting

PASSWORD = "page-rahasia-41ab"


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def post(client, group: str, **fields):
    return client.post(
        "/admin/settings", data={"csrf_token": client.csrf, "group": group, **fields}
    )


def saved(name: str) -> bool:
    """Read afresh: the page saved it through its own request."""
    settings.forget()
    return settings.is_saved(name)


def smtp_fields(port: int, **overrides) -> dict:
    fields = {
        "email_fallback_enabled": "1",
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_user": "kabar",
        "smtp_password": PASSWORD,
        "smtp_from": "Kabar ISP <noreply@isp.example>",
    }  # smtp_starttls left unticked: the local server speaks plain SMTP
    return {**fields, **overrides}


def test_the_page_needs_a_login(client):
    r = client.get("/admin/settings")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_every_setting_is_on_the_page_with_its_source(logged_in):
    page = logged_in.get("/admin/settings").get_data(as_text=True)
    shown = set(re.findall(r'data-setting="([a-z_]+)"', page))
    assert shown == set(settings.SPECS)
    assert "bawaan lingkungan" in page
    assert ">tersimpan</span>" not in page


def test_saving_a_group_stores_what_changed_and_leaves_the_rest_to_the_environment(logged_in, ctx):
    current = settings.get("retention_jobs_days")
    r = post(
        logged_in,
        "retention",
        retention_messages_days="45",
        retention_jobs_days=str(current),
        retention_sessions_days="0",
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/settings#retention")
    assert settings.get("retention_messages_days") == 45
    assert settings.get("retention_sessions_days") == 0
    assert not saved("retention_jobs_days")
    page = logged_in.get("/admin/settings").get_data(as_text=True)
    assert "Retensi: disimpan." in page
    assert 'name="retention_messages_days" value="45"' in page


def test_a_bad_value_is_shown_at_its_field_with_the_input_kept_and_nothing_saved(logged_in, ctx):
    r = post(logged_in, "retention", retention_messages_days="-5", retention_jobs_days="40",
             retention_sessions_days="90")  # fmt: skip
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "minimal 0" in page
    assert 'value="-5"' in page and 'value="40"' in page
    assert not saved("retention_messages_days")
    assert not saved("retention_jobs_days")


def test_quiet_hours_are_checked_by_their_parser(logged_in, ctx):
    r = post(logged_in, "quiet", quiet_hours="21.00-07.00", quiet_categories="promotion")
    assert r.status_code == 422
    assert "jam tenang harus berbentuk 21:00-07:00" in r.get_data(as_text=True)
    assert not saved("quiet_hours")


def test_a_post_without_the_csrf_token_is_refused(logged_in, ctx):
    r = logged_in.post("/admin/settings", data={"group": "retention",
                                                "retention_messages_days": "3"})  # fmt: skip
    assert r.status_code == 400
    assert not saved("retention_messages_days")
    r = logged_in.post("/admin/settings/test-email", data={"to": "ops@isp.example"})
    assert r.status_code == 400


def test_an_unknown_group_is_refused_politely(logged_in):
    r = post(logged_in, "nonsense")
    assert r.status_code == 302
    page = logged_in.get("/admin/settings").get_data(as_text=True)
    assert "Kelompok pengaturan tidak dikenal" in page


def test_the_smtp_password_is_never_rendered_and_an_empty_field_keeps_it(logged_in, ctx):
    assert post(logged_in, "email", **smtp_fields(2525)).status_code == 302
    page = logged_in.get("/admin/settings").get_data(as_text=True)
    assert PASSWORD not in page
    assert 'placeholder="terisi"' in page
    # Saving the group again with the password field untouched keeps the password.
    fields = smtp_fields(2525, smtp_password="", smtp_from="ops@isp.example")
    assert post(logged_in, "email", **fields).status_code == 302
    settings.forget()
    assert settings.get("smtp_password") == PASSWORD
    assert settings.get("smtp_from") == "ops@isp.example"
    # A refused form does not echo it either.
    r = post(logged_in, "email", **smtp_fields(0))
    assert r.status_code == 422 and PASSWORD not in r.get_data(as_text=True)


def test_moving_the_smtp_server_without_the_password_clears_it_and_says_so(logged_in, ctx):
    post(logged_in, "email", **smtp_fields(2525))
    r = post(logged_in, "email", **smtp_fields(2525, smtp_host="mx.elsewhere.example",
                                               smtp_password=""))  # fmt: skip
    assert r.status_code == 302
    settings.forget()
    assert settings.get("smtp_password") == ""
    page = logged_in.get("/admin/settings").get_data(as_text=True)
    assert "Server atau login SMTP berubah: masukkan lagi kata sandi SMTP." in page
    assert 'placeholder="terisi"' not in page


@pytest.mark.parametrize("host", ["smtp..example.com", "a b"])
def test_a_malformed_smtp_host_is_shown_at_its_field(logged_in, ctx, host):
    r = post(logged_in, "email", **smtp_fields(2525, smtp_host=host))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "harus berupa nama host atau alamat" in page and f'value="{host}"' in page
    assert not saved("smtp_host")


def test_a_saved_value_goes_back_to_the_default_when_reset(logged_in, ctx):
    post(logged_in, "optout", opt_out_keywords="CUKUP")
    assert saved("opt_out_keywords")
    r = post(logged_in, "optout", opt_out_keywords="CUKUP", reset="opt_out_keywords")
    assert r.status_code == 302
    assert not saved("opt_out_keywords")


def test_an_unticked_box_saves_false(logged_in, ctx):
    post(
        logged_in,
        "deliverability",
        warmup_schedule="20, 40",
        typing_ms="0",
        on_whatsapp_cache_days="7",
    )  # fmt: skip  (check_on_whatsapp unticked)
    settings.forget()
    assert settings.get("check_on_whatsapp") is False
    assert settings.get("warmup_schedule") == [20, 40]


def test_the_test_email_reaches_the_smtp_server_with_the_saved_login(logged_in, ctx):
    with smtp_inbox() as inbox:
        post(logged_in, "email", **smtp_fields(inbox.port))
        r = logged_in.post(
            "/admin/settings/test-email",
            data={"csrf_token": logged_in.csrf, "to": "ops@isp.example"},
        )
        assert r.status_code == 200
        assert len(inbox.mails) == 1
        mail = inbox.mails[0]
        assert mail.recipients == ["ops@isp.example"]
        assert mail.message["From"] == "Kabar ISP <noreply@isp.example>"
        assert "Test e-mail from Kabar" in mail.part("plain")
        assert inbox.logins == [("kabar", PASSWORD)]
    assert "E-mail uji terkirim ke ops@isp.example" in r.get_data(as_text=True)


def test_an_unreachable_smtp_server_is_a_flashed_error_not_a_crash(logged_in, ctx):
    post(logged_in, "email", **smtp_fields(free_port()))
    r = logged_in.post(
        "/admin/settings/test-email",
        data={"csrf_token": logged_in.csrf, "to": "ops@isp.example"},
        follow_redirects=True,
    )
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "E-mail uji gagal" in page and "ConnectionRefusedError" in page
    assert PASSWORD not in page


def test_a_bad_smtp_host_saved_before_hosts_were_checked_is_a_flashed_error(logged_in, ctx):
    post(logged_in, "email", **smtp_fields(2525))
    db.session.merge(Setting(name="smtp_host", value="smtp..example.com"))  # an old value
    db.session.commit()
    r = logged_in.post(
        "/admin/settings/test-email",
        data={"csrf_token": logged_in.csrf, "to": "ops@isp.example"},
        follow_redirects=True,
    )
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    # Python 3.11 raises UnicodeError, 3.13 its subclass UnicodeEncodeError: both say why.
    assert "E-mail uji gagal" in page and re.search(r"Unicode(Encode)?Error: .*label empty", page)


def test_a_malformed_test_recipient_is_shown_at_the_field(logged_in):
    r = logged_in.post(
        "/admin/settings/test-email", data={"csrf_token": logged_in.csrf, "to": "ops at isp"}
    )
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "harus berupa alamat e-mail" in page and 'value="ops at isp"' in page


# one form for the whole page -------------------------------------------------------------------


def whole_form(client) -> dict[str, list[str]]:
    """Every field of the page as a browser would post it (ticked boxes only)."""
    page = client.get("/admin/settings").get_data(as_text=True)
    form: dict[str, list[str]] = {"csrf_token": [client.csrf]}
    form["shown"] = re.findall(r'name="shown" value="([a-z_]+)"', page)
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([a-z_]+)"', tag)
        if not name or name.group(1) in ("shown", "csrf_token", "reset", "to"):
            continue
        if 'type="checkbox"' in tag:
            if "checked" in tag:
                form[name.group(1)] = ["1"]
        else:
            form[name.group(1)] = [html.unescape(re.search(r'value="([^"]*)"', tag).group(1))]
    selects = re.findall(r'<select id="s-[a-z_]+" name="([a-z_]+)">(.*?)</select>', page, re.S)
    for name, body in selects:
        form[name] = [re.search(r'<option value="([^"]+)" selected>', body).group(1)]
    return form


def test_the_page_is_one_form_with_a_save_button_per_section(logged_in):
    page = logged_in.get("/admin/settings").get_data(as_text=True)
    assert page.count('<form method="post" action="/admin/settings"') == 1
    assert page.count('name="group" value=') == 10


def test_saving_one_section_keeps_the_edits_made_in_the_others(logged_in, ctx):
    form = whole_form(logged_in)
    form |= {"quiet_hours": ["22:00-06:00"], "retention_messages_days": ["30"],
             "group": ["retention"]}  # fmt: skip
    r = logged_in.post("/admin/settings", data=form)
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/settings#retention")
    settings.forget()
    assert settings.get("quiet_hours") == "22:00-06:00"
    assert settings.get("retention_messages_days") == 30
    assert not saved("retention_jobs_days") and not saved("typing_ms")  # untouched: not pinned
    page = logged_in.get(r.headers["Location"]).get_data(as_text=True)
    # The result is in each section that changed, next to the fields it changed.
    quiet = page[page.index('id="quiet"') : page.index('id="optout"')]
    assert "Jam tenang: disimpan." in quiet and 'class="changed"' in quiet
    retention = page[page.index('id="retention"') : page.index('id="email"')]
    assert "Retensi: disimpan." in retention
    sending = page[page.index('id="sending"') : page.index('id="sessions"')]
    assert "disimpan." not in sending
    assert "Retensi: disimpan." not in logged_in.get("/admin/settings").get_data(as_text=True)


def test_a_refusal_keeps_every_typed_value_and_names_its_field(logged_in, ctx):
    form = whole_form(logged_in)
    form |= {"quiet_hours": ["25:00-07:00"], "retention_messages_days": ["30"],
             "opt_out_keywords": ["CUKUP, STOP"], "group": ["sending"]}  # fmt: skip
    form.pop("check_on_whatsapp", None)  # unticked
    r = logged_in.post("/admin/settings", data=form)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'name="retention_messages_days" value="30"' in page
    assert 'name="opt_out_keywords" value="CUKUP, STOP"' in page
    assert 'id="s-check_on_whatsapp" name="check_on_whatsapp" value="1" >' in page
    quiet = page[page.index('id="quiet"') : page.index('id="optout"')]
    assert "Tidak disimpan" in quiet and 'value="25:00-07:00"' in quiet
    assert re.search(r'value="25:00-07:00">\s*<span class="field-error">', quiet)
    assert "Tidak disimpan" not in page[: page.index('id="quiet"')]
    assert not saved("retention_messages_days") and not saved("opt_out_keywords")


def test_the_test_email_keeps_what_was_typed_and_answers_next_to_its_button(logged_in, ctx):
    with smtp_inbox() as inbox:
        post(logged_in, "email", **smtp_fields(inbox.port))
        form = whole_form(logged_in)
        form |= {"retention_messages_days": ["30"], "to": ["ops@isp.example"]}
        r = logged_in.post("/admin/settings/test-email", data=form)
        assert r.status_code == 200 and len(inbox.mails) == 1
    page = r.get_data(as_text=True)
    assert 'name="retention_messages_days" value="30"' in page
    assert not saved("retention_messages_days")
    box = page[page.index('id="test-email"') :]
    assert "E-mail uji terkirim ke ops@isp.example" in box


def test_an_untouched_password_field_is_no_change_to_report(logged_in, ctx):
    assert post(logged_in, "email", **smtp_fields(2525)).status_code == 302
    form = whole_form(logged_in) | {"retention_messages_days": ["30"], "group": ["retention"]}
    assert form["smtp_password"] == [""]
    r = logged_in.post("/admin/settings", data=form)
    assert r.status_code == 302
    page = logged_in.get(r.headers["Location"]).get_data(as_text=True)
    assert "Retensi: disimpan." in page
    assert "Cadangan e-mail: disimpan." not in page
    settings.forget()
    assert settings.get("smtp_password") == PASSWORD
