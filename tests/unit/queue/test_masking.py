"""What the log may show of a job's arguments: ids and names, never numbers or words."""

from __future__ import annotations

from workers.queue import masking

PHONE = "6281234567890"
TEXT = "Tagihan saya salah"


def test_ids_and_names_are_kept_and_texts_and_numbers_masked():
    assert masking.masked_arg(42) == 42
    assert masking.masked_arg([1, 2, 3]) == [1, 2, 3]
    assert masking.masked_arg("message.status") == "message.status"
    assert masking.masked_arg(PHONE) == "[masked, 13 chars]"
    assert masking.masked_arg("+62 812-3456-7890") == "[masked, 17 chars]"
    assert masking.masked_arg(TEXT) == "[masked, 18 chars]"
    assert masking.masked_arg('{"text": "hi"}') == "[masked, 14 chars]"
