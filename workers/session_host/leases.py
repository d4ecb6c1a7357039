"""Leases in Redis: which session host holds which session, which scheduler acts.

A lease is a key whose value is the holder's id and which expires unless renewed, so whatever a
dead process held is free for another once its leases lapse (or, for session hosts, as soon as
the holder's heartbeat lapses: ``take``). Renewal and release check
the holder atomically: a host that lost its lease can never extend or drop another host's.
"""

from __future__ import annotations

import redis

from workers.queue import keys

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
# Take a lease that is free, ours, or held by a holder whose heartbeat key (ARGV[3] .. holder)
# is gone: a session host killed with -9 frees its sessions as soon as its heartbeat lapses,
# not when its leases do.
_TAKE = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
if holder and redis.call('exists', ARGV[3] .. holder) == 1 then
  return 0
end
redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
return 1
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
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)

    def acquire(self, name: str) -> bool:
        return bool(self.redis.set(keys.lease(name), self.holder, nx=True, px=self.ttl_ms))

    def take(self, name: str, heartbeat_prefix: str) -> bool:
        """Like ``acquire``, and also take ``name`` from a holder whose heartbeat
        (``heartbeat_prefix + holder``) has lapsed."""
        args = [self.holder, self.ttl_ms, heartbeat_prefix]
        return bool(self._take(keys=[keys.lease(name)], args=args))

    def renew(self, name: str) -> bool:
        return bool(self._renew(keys=[keys.lease(name)], args=[self.holder, self.ttl_ms]))

    def hold(self, name: str) -> bool:
        """Renew ``name`` if held, else try to take it; True while this holder has it."""
        return self.renew(name) or self.acquire(name)

    def release(self, name: str) -> None:
        self._release(keys=[keys.lease(name)], args=[self.holder])
