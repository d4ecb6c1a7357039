"""Slowing down password guessing on the admin login: after MAX_FAILURES wrong passwords for
one e-mail or from one address within WINDOW_S, logins from there wait until the window ends."""

from __future__ import annotations

from webapp.redis_client import get_redis
from workers import keys

MAX_FAILURES = 5
WINDOW_S = 15 * 60


def _keys(email: str, address: str) -> list[str]:
    return [keys.login_failures(f"email:{email.strip().lower()}"),
            keys.login_failures(f"ip:{address}")]


def wait_seconds(email: str, address: str) -> int:
    """0 when a login attempt may be checked now, else the seconds until it may."""
    client = get_redis()
    pipe = client.pipeline()
    for key in _keys(email, address):
        pipe.get(key)
        pipe.ttl(key)
    values = pipe.execute()
    waits = [
        max(int(ttl), 1)
        for count, ttl in zip(values[::2], values[1::2], strict=True)
        if count is not None and int(count) >= MAX_FAILURES
    ]
    return max(waits, default=0)


def failed(email: str, address: str) -> None:
    pipe = get_redis().pipeline()
    for key in _keys(email, address):
        pipe.incr(key)
        pipe.expire(key, WINDOW_S, nx=True)
    pipe.execute()


def succeeded(email: str, address: str) -> None:
    get_redis().delete(_keys(email, address)[0])
