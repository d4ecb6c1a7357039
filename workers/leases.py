"""Leases in Redis: which session host holds which session, which scheduler acts.

A lease is a key whose value is the holder's id and which expires unless renewed, so whatever a
dead process held is free for another once its leases lapse. Renewal and release check
the holder atomically: a host that lost its lease can never extend or drop another host's.
"""

from __future__ import annotations

import redis

from workers import keys

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Leases:
    def __init__(self, client: redis.Redis, holder: str, ttl_ms: int) -> None:
        self.redis = client
        self.holder = holder
        self.ttl_ms = ttl_ms
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self, name: str) -> bool:
        return bool(self.redis.set(keys.lease(name), self.holder, nx=True, px=self.ttl_ms))

    def renew(self, name: str) -> bool:
        return bool(self._renew(keys=[keys.lease(name)], args=[self.holder, self.ttl_ms]))

    def hold(self, name: str) -> bool:
        """Renew ``name`` if held, else try to take it; True while this holder has it."""
        return self.renew(name) or self.acquire(name)

    def release(self, name: str) -> None:
        self._release(keys=[keys.lease(name)], args=[self.holder])
