"""Attachments made ready before a batch is sent (workers.pipeline.attachments.prepare): their bytes
go from PostgreSQL to Redis for the session host's client, a batch of large files without
holding them all in the worker's memory at once."""

from __future__ import annotations

import base64
import hashlib
import os
import tracemalloc

import pytest

from webapp.intake import messages
from workers.pipeline import sending
from workers.pipeline.attachments import prepare
from workers.queue import keys

MB = 1024 * 1024


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def _pdf(size: int) -> bytes:
    head = b"%PDF-1.4\n"
    return head + os.urandom(size - len(head))


@pytest.mark.usefixtures("ctx")
def test_a_batch_of_large_files_is_staged_one_file_at_a_time(redis_client):
    """Twenty 1 MB invoices (16 MB ones in real life): the worker holds about one at a time."""
    files = [_pdf(MB) for _ in range(20)]
    ids = [
        messages.queue_message(
            f"0812345678{n:02d}",
            text="Tagihan",
            media={"type": "document", "base64": base64.b64encode(pdf).decode()},
        ).message.id
        for n, pdf in enumerate(files)
    ]
    loaded = sending.load(ids)

    tracemalloc.start()
    try:
        ready, failed = prepare(loaded)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert failed == {} and len(ready) == 20
    for pdf in files:
        assert redis_client.get(keys.media_blob(hashlib.sha256(pdf).hexdigest())) == pdf
    assert peak < 5 * MB, f"{peak / MB:.1f} MB held at once for 20 files of 1 MB"
