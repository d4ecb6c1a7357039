"""The app's Redis client, created in ``create_app`` and shared by its threads."""

from __future__ import annotations

import redis
from flask import current_app


def get_redis() -> redis.Redis:
    return current_app.extensions["kabar.redis"]
