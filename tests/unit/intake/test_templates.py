import pytest

from webapp.core.errors import TemplateVariableMissing
from webapp.intake.templates import extract_variables, render


def test_variables_are_found_once_in_order_of_use():
    assert extract_variables("{{b}} {{a}} {{b}} {{ c }} {{d-e}}") == ["b", "a"]


def test_values_are_inserted_literally():
    text = render("Halo {{name}}, total Rp{{amount}}", {"name": "<b>{{x}}</b> $1 \\1", "amount": 0})
    assert text == "Halo <b>{{x}}</b> $1 \\1, total Rp0"


def test_missing_variables_are_all_named():
    with pytest.raises(TemplateVariableMissing) as caught:
        render("{{a}} {{b}} {{c}}", {"b": "x", "c": None})
    assert caught.value.missing == ["a", "c"]
    assert caught.value.field == "data.a"


def test_extra_data_is_ignored():
    assert render("Halo {{name}}", {"name": "Sari", "unused": 1}) == "Halo Sari"
