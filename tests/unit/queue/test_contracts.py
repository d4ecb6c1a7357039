"""The named contracts are the strings the database and the wire carry, unchanged."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from workers.queue import contracts
from workers.queue.contracts import (
    MESSAGE_STATUSES,
    SEND_ACTORS,
    SESSION_STATES,
    Actor,
    Band,
    MessageStatus,
    RpcCode,
)


def test_every_message_status_is_listed():
    assert MESSAGE_STATUSES == (
        "queued",
        "sent",
        "delivered",
        "read",
        "failed",
        "cancelled",
        "paused",
        "skipped",
    )


def test_session_states_are_the_transports_statuses():
    assert SESSION_STATES == (
        "disconnected",
        "connecting",
        "qr",
        "qr_expired",
        "connected",
        "logged_out",
        "banned",
        "failed",
    )


def test_members_are_their_strings_everywhere():
    assert MessageStatus.QUEUED == "queued" and hash(MessageStatus.QUEUED) == hash("queued")
    assert str(Band.BULK) == f"{Band.BULK}" == "bulk"
    assert repr(RpcCode.NOT_HOSTED) == repr("not_hosted")
    logged = "%s %r" % (Actor.SEND_BULK, Actor.SEND_BULK)  # noqa: UP031 - as logging formats
    assert logged == "send_bulk 'send_bulk'"
    assert json.dumps({Band.URGENT: [MessageStatus.SENT]}) == '{"urgent": ["sent"]}'
    assert {"queued": 1}[MessageStatus.QUEUED] == 1


def test_one_send_actor_per_band():
    assert SEND_ACTORS == {"urgent": "send_urgent", "normal": "send_normal", "bulk": "send_bulk"}


def test_the_module_imports_nothing_of_kabars():
    tree = ast.parse(Path(contracts.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "enum"}
