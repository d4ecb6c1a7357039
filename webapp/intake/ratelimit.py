"""A token bucket per API key in Redis, so one misbehaving client cannot flood the queues."""

from __future__ import annotations

from webapp.redis_client import get_redis
from workers.queue import keys

_BUCKET = """
local key, rate, burst = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local state = redis.call('hmget', key, 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('hset', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('expire', key, math.ceil(burst / rate) + 1)
return {allowed, tostring(wait)}
"""


def take(key_id: int, rate: float, burst: int) -> float:
    """Spend one request of ``key_id``'s budget; return 0, or the seconds until one is free."""
    client = get_redis()
    script = client.register_script(_BUCKET)
    allowed, wait = script(keys=[keys.api_rate(key_id)], args=[rate, burst])
    return 0.0 if int(allowed) else float(wait)
