import pytest

from webapp.core.errors import InvalidPhoneNumber
from webapp.core.phone import normalize


@pytest.mark.parametrize(
    "raw",
    [
        "0812-3456-7890",
        "081234567890",
        "+62 812 3456 7890",
        "6281234567890",
        "006281234567890",
        "6281234567890@s.whatsapp.net",
        " (0812) 3456 7890 ",
    ],
)
def test_indonesian_shapes_become_one_number(raw):
    recipient = normalize(raw)
    assert recipient.phone == "6281234567890"
    assert recipient.jid == "6281234567890@s.whatsapp.net"


def test_numbers_of_other_countries_keep_their_code():
    assert normalize("+60 12-345 6789").phone == "60123456789"
    assert normalize("+1 650 253 0000").phone == "16502530000"


@pytest.mark.parametrize("raw", ["", "abc", "12", "0812", "+99 1234", "1203630@g.us", "0" * 30])
def test_impossible_numbers_are_refused_with_the_field(raw):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize(raw, field="to")
    assert caught.value.field == "to"


@pytest.mark.parametrize(
    "raw",
    [
        "0812-ABCD-7890",  # keypad letters: phonenumbers reads 0812-2223-7890
        "0812345678O",  # a letter O for a zero: phonenumbers drops it
        "0812-3450-000X",  # a trailing X: dropped
        "0812 3456 7890 ext 12",  # an extension: dropped
        "0812 3456 7890 x5",
        "tel:+6281234567890",
        "62812ABC34567@s.whatsapp.net",
    ],
)
def test_a_number_with_letters_is_refused_never_read_as_another(raw):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize(raw, field="whatsapp")
    assert caught.value.reason == "letters" and caught.value.field == "whatsapp"
    assert caught.value.message == "the number contains letters"


@pytest.mark.parametrize(
    "raw",
    [
        "0812345678#12",
        "081234567890;1",
        "０８１２３４５６７８９０",
        "0812+3456-7890",
        "0812*34567890",
    ],
)
def test_digits_phonenumbers_would_drop_or_convert_are_refused(raw):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize(raw)
    assert caught.value.reason == "characters"


@pytest.mark.parametrize(
    "raw",
    [
        "+62 (0) 812 3456 7890",  # the trunk 0 after the country code
        "62 812 3456 7890",
        "812 3456 7890",
        "0812.3456.7890",
        "0812\u00a03456\u20137890",  # a spreadsheet's non-breaking space and en dash
        6281234567890,
        6281234567890.0,  # a JSON or spreadsheet number
    ],
)
def test_punctuation_the_country_code_and_the_trunk_prefix_are_all_that_may_differ(raw):
    assert normalize(raw).phone == "6281234567890"


def test_an_italian_number_keeps_its_leading_zero():
    assert normalize("+39 06 1234 5678").phone == "390612345678"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "not_a_number"),
        ("0812", "too_short"),
        ("+99 1234", "country"),
        ("1203630@g.us", "not_personal"),
    ],
)
def test_each_refusal_names_its_reason(raw, reason):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize(raw)
    assert caught.value.reason == reason
