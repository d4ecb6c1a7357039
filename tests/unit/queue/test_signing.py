"""Signed jobs and events: one sealed under another key is refused, naming the setting."""

from __future__ import annotations

import json

import pytest

from workers.queue import signing


def test_a_job_or_event_signed_with_another_key_names_the_setting():
    key = signing.channel_key("another secret")
    with pytest.raises(signing.OtherKey, match="KABAR_RPC_SECRET"):
        signing.unseal(signing.SESSION_EVENT, signing.seal(signing.SESSION_EVENT, {"k": 1}, key))
    with pytest.raises(signing.BadSignature) as caught:
        signing.unseal(signing.SESSION_EVENT, json.dumps({"body": "{}", "sig": "0" * 64}))
    assert not isinstance(caught.value, signing.OtherKey)
