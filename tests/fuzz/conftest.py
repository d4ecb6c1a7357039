"""The fuzz runs only when asked for (``pytest -m fuzz``, as ``scripts/fuzz.sh`` does)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    if "fuzz" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="the fuzz runs with scripts/fuzz.sh (pytest -m fuzz)")
    for item in items:
        if "fuzz" in item.keywords:
            item.add_marker(skip)
