import pytest

from webapp.services.errors import InvalidPhoneNumber
from webapp.services.phone import normalize


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
