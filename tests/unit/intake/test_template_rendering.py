"""Rendering and checking templates: filters, types, unicode, the 4,096 boundary, warnings."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from webapp.core.errors import (
    MessageTooLong,
    TemplateInvalid,
    TemplateVariableInvalid,
    TemplateVariableMissing,
)
from webapp.intake.templates import (
    check_content,
    extract_variables,
    normalize_extra,
    preview,
    render,
    render_message,
    warnings_for,
)
from webapp.models import WhatsAppTemplate

NEW_INVOICE = (
    "🧾 Tagihan Baru\n\nHalo {{customer_name}},\n\nTagihan layanan internet Anda sudah terbit:\n"
    "📄 No. Invoice: {{invoice_number}}\n💰 Jumlah: Rp{{amount}}\n📅 Jatuh Tempo: {{due_date}}\n\n"
    "Bayar dengan mudah melalui:\n{{payment_url}}\n\nTerima kasih!"
)


def template(content, type_="text", **parts):
    return WhatsAppTemplate(content=content, type=type_, extra=normalize_extra(type_, parts))


# placeholders and filters -----------------------------------------------------------------------


def test_filters_are_not_part_of_the_variable_name():
    assert extract_variables("{{amount|rupiah}} {{due|date}} {{amount}} {{x|}} {{a|b|c}}") == [
        "amount",
        "due",
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (150000, "150.000"),
        ("150000", "150.000"),
        ("150000.00", "150.000"),
        ("150.000", "150.000"),
        (1500.5, "1.500,50"),
        (0, "0"),
        (999, "999"),
        (-25000, "-25.000"),
        (1234567890, "1.234.567.890"),
    ],
)
def test_rupiah_writes_amounts_the_indonesian_way(value, shown):
    assert render("Rp{{amount|rupiah}}", {"amount": value}) == f"Rp{shown}"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-12-25", "25 Desember 2026"),
        (date(2026, 1, 5), "5 Januari 2026"),
        (datetime(2026, 8, 17, 9, 30), "17 Agustus 2026"),
        # 20:00 UTC on the 31st is already the 1st in Jakarta (UTC+7).
        ("2026-03-31T20:00:00Z", "1 April 2026"),
        (0, "1 Januari 1970"),
        # Already written out, as billing apps often send dates: read, then written the same way.
        ("1 Desember 2026", "1 Desember 2026"),
        ("1 Des 2026", "1 Desember 2026"),
        ("10 December 2026", "10 Desember 2026"),
        ("10-12-2026", "10 Desember 2026"),
        ("10/12/2026", "10 Desember 2026"),
    ],
)
def test_date_writes_indonesian_month_names(value, shown):
    assert render("{{due|date}}", {"due": value}) == shown


def test_upper_and_unfiltered_values_side_by_side():
    assert render("{{code|upper}} / {{code}}", {"code": "hs-7781"}) == "HS-7781 / hs-7781"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("{{a|rupiah}}", "abc"),
        ("{{a|date}}", "besok"),
        ("{{a|date}}", "31-02-2026"),
        ("{{a|date}}", "1 Smarch 2026"),
    ],
)
def test_a_value_its_filter_cannot_read_is_refused_naming_it(text, value):
    with pytest.raises(TemplateVariableInvalid) as caught:
        render(text, {"a": value})
    assert caught.value.field == "data.a" and caught.value.status == 422


def test_an_unknown_filter_is_refused_when_the_template_is_saved():
    with pytest.raises(TemplateInvalid) as caught:
        check_content("Rp{{amount|idr}}", None)
    assert "idr" in caught.value.message and "rupiah" in caught.value.message


# values and unicode -----------------------------------------------------------------------------


def test_the_seed_templates_emoji_survive_rendering():
    text = render(
        NEW_INVOICE,
        {
            "customer_name": "Budi",
            "invoice_number": "INV-1",
            "amount": "150.000",
            "due_date": "1 Des",
            "payment_url": "https://bayar.example/INV-1",
        },
    )
    assert text.startswith("🧾 Tagihan Baru") and "💰 Jumlah: Rp150.000" in text


def test_unicode_values_and_names_are_kept_as_given():
    assert render("Halo {{nama}} {{ñ}}", {"nama": "Sîti 👩🏽‍💻 ولد", "ñ": "é"}) == (
        "Halo Sîti 👩🏽‍💻 ولد é"
    )


def test_values_that_look_like_placeholders_are_not_expanded_again():
    assert render("{{a}} {{b}}", {"a": "{{b}}", "b": "x"}) == "{{b}} x"


def test_missing_variables_of_every_part_are_named_together():
    list_template = template(
        "Paket untuk {{name}}",
        "list",
        button_text="Pilih",
        sections=[{"title": "{{area}}", "rows": [{"title": "10 Mbps", "description": "{{p}}"}]}],
    )
    with pytest.raises(TemplateVariableMissing) as caught:
        render_message(list_template, {"name": "Budi"})
    assert caught.value.missing == ["area", "p"]


def test_preview_shows_missing_variables_and_names_unused_ones():
    shown = preview("Halo {{name}}, Rp{{amount|rupiah}}", {"amount": 5000, "extra": 1})
    assert shown.rendered.text == "Halo {{name}}, Rp5.000"
    assert shown.missing == ["name"] and shown.unused == ["extra"]
    assert shown.variables == ["name", "amount"]


def test_preview_keeps_a_value_its_filter_cannot_read_and_says_why():
    shown = preview("Rp{{amount|rupiah}}", {"amount": "gratis"})
    assert shown.rendered.text == "Rp{{amount|rupiah}}" and "amount" in shown.invalid


# the 4,096 boundary -----------------------------------------------------------------------------


def test_content_of_exactly_4096_characters_is_accepted():
    assert check_content("é" * 4096, None) == []


def test_content_of_4097_characters_is_refused():
    with pytest.raises(MessageTooLong) as caught:
        check_content("a" * 4097, None)
    assert caught.value.field == "content" and "4097" in caught.value.message


def test_emoji_count_as_their_code_points():
    # WhatsApp's 4,096 counts characters; Python's len counts code points, as the send check does.
    check_content("🎉" * 4096, None)
    with pytest.raises(MessageTooLong):
        check_content("🎉" * 4097, None)


# types ------------------------------------------------------------------------------------------


def test_media_renders_the_caption_and_a_per_recipient_attachment():
    media = template("Invoice {{n}}", "media", media_url="https://cdn.example/{{n}}.png")
    rendered = render_message(media, {"n": "INV-9"})
    assert rendered.text == "Invoice INV-9"
    assert rendered.media_url == "https://cdn.example/INV-9.png"
    assert rendered.render_mode == "media"
    assert (rendered.media.type, rendered.media.url) == ("image", "https://cdn.example/INV-9.png")


def test_a_document_template_names_its_file_per_recipient():
    pdf = template(
        "Tagihan {{n}}",
        "media",
        media_url="https://billing.lan/{{n}}.pdf",
        media_type="document",
        file_name="tagihan-{{n}}.pdf",
    )
    rendered = render_message(pdf, {"n": "INV-9"})
    assert rendered.media.type == "document"
    assert rendered.media.file_name == "tagihan-INV-9.pdf"
    assert rendered.media.url == "https://billing.lan/INV-9.pdf"


def test_buttons_degrade_to_numbered_options():
    buttons = template(
        "Bayar sekarang?",
        "button",
        buttons=["Ya", {"id": "no", "text": "Nanti"}],
        footer="Kabar ISP",
    )
    rendered = render_message(buttons, {})
    assert rendered.text == "Bayar sekarang?\n\n1. Ya\n2. Nanti\n\nKabar ISP"
    assert rendered.render_mode == "text"


def test_a_list_numbers_its_rows_across_sections():
    menu = template(
        "Pilih paket, {{name}}:",
        "list",
        button_text="Lihat paket",
        footer="Balas dengan angka",
        sections=[
            {
                "title": "Rumah",
                "rows": [{"title": "10 Mbps", "description": "Rp150.000"}, {"title": "20 Mbps"}],
            },
            {"title": "Bisnis", "rows": ["50 Mbps"]},
        ],
    )
    assert render_message(menu, {"name": "Sari"}).text == (
        "Pilih paket, Sari:\n\nLihat paket:\n*Rumah*\n1. 10 Mbps — Rp150.000\n2. 20 Mbps\n\n"
        "*Bisnis*\n3. 50 Mbps\n\nBalas dengan angka"
    )


@pytest.mark.parametrize(
    ("type_", "parts", "field"),
    [
        ("media", {}, "mediaUrl"),
        ("media", {"media_url": "ftp://x/y.png"}, "mediaUrl"),
        ("button", {"buttons": []}, "buttons"),
        ("button", {"buttons": ["a", "b", "c", "d"]}, "buttons"),
        ("button", {"buttons": ["ok", ""]}, "buttons.1"),
        ("list", {"button_text": "Pilih", "sections": []}, "sections"),
        (
            "list",
            {"button_text": "Pilih", "sections": [{"title": "x", "rows": []}]},
            "sections.0.rows",
        ),
        ("list", {"sections": [{"rows": ["a"]}]}, "buttonText"),
        (
            "list",
            {"button_text": "P", "sections": [{"rows": [str(n) for n in range(11)]}]},
            "sections",
        ),
    ],
)
def test_malformed_type_parts_are_refused_naming_the_part(type_, parts, field):
    with pytest.raises(TemplateInvalid) as caught:
        normalize_extra(type_, parts)
    assert caught.value.field == field


def test_parts_of_another_type_are_dropped():
    assert normalize_extra("text", {"buttons": ["a"], "media_url": "https://x"}) is None


# warnings ---------------------------------------------------------------------------------------


def test_a_character_repeated_more_than_ten_times_is_a_warning():
    assert warnings_for("a" * 10 + "!") == []
    (warning,) = warnings_for("Promo" + "!" * 11)
    assert warning["code"] == "repeated_character" and warning["field"] == "content"


def test_a_link_is_a_warning_but_a_placeholder_for_one_is_not():
    assert warnings_for("Bayar di {{payment_url}}") == []
    codes = [w["code"] for w in warnings_for("Bayar di https://bayar.example/x")]
    assert codes == ["url"]
    assert [w["code"] for w in warnings_for("www.contoh.id")] == ["url"]


def test_text_that_only_looks_like_a_placeholder_is_a_warning():
    (warning,) = warnings_for("Halo {{ customer_name }}")
    assert warning["code"] == "not_a_placeholder"


def test_the_seed_invoice_template_carries_no_warning():
    assert warnings_for(NEW_INVOICE) == []
