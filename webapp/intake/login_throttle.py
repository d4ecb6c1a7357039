"""Slowing down password guessing on the admin login, without letting anyone lock an admin out.

Every attempt is counted against the e-mail it names and the address it comes from (the real
client address: see ``webapp/proxies``) *before* its password is checked, in one Lua script, so
attempts made at the same moment cannot all slip through on a count read before any of them
failed: of 20 concurrent guesses, FREE_ATTEMPTS are checked and the others wait. After
FREE_ATTEMPTS failures, each further attempt from there must wait a delay that doubles (BASE_S,
2 x BASE_S, ... up to CAP_S); a subject's count is forgotten FORGET_S after its last attempt.

A stranger who keeps guessing an admin's e-mail keeps that e-mail slow for everyone but the
admin: a browser the admin logged in from carries a device token, and its attempts are counted
against that device alone, not the e-mail or the address (OWASP's "device cookies").
"""

from __future__ import annotations

import hashlib
import ipaddress

from webapp.redis_client import get_redis
from workers.queue import keys

FREE_ATTEMPTS = 5
BASE_S = 30
CAP_S = 15 * 60
FORGET_S = 60 * 60

# KEYS: the subjects. ARGV: free attempts, base ms, cap ms, forget ms. Returns 0 when the
# attempt may be checked now (it is counted as a failure until ``succeeded`` says otherwise),
# else the milliseconds until it may, counting nothing.
_TAKE = """
local free, base, cap, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for _, key in ipairs(KEYS) do
  local next_at = tonumber(redis.call('hget', key, 'next') or '0')
  if next_at - now > wait then wait = next_at - now end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  local failures = redis.call('hincrby', key, 'failures', 1)
  local delay = 0
  if failures >= free then delay = math.floor(math.min(base * 2 ^ (failures - free), cap)) end
  redis.call('hset', key, 'next', now + delay)
  redis.call('pexpire', key, forget + delay)
end
return 0
"""

# A right password: KEYS[1]'s count starts again; KEYS[2], if given, gets back the attempt it
# was charged (so admins behind one address do not slow each other down).
_SUCCEEDED = """
redis.call('del', KEYS[1])
local refunded = KEYS[2]
if refunded and redis.call('exists', refunded) == 1 then
  local failures = redis.call('hincrby', refunded, 'failures', -1)
  if failures < tonumber(ARGV[1]) then redis.call('hset', refunded, 'next', 0) end
end
return 0
"""


def subject_keys(email: str, address: str, device: str | None = None) -> list[str]:
    """The Redis keys an attempt is counted against. The e-mail is whatever a stranger typed, of
    any length: its digest names the key. An IPv6 client is its /64, which one subscriber gets
    whole, so hopping addresses inside it buys no fresh attempts (nor fresh keys)."""
    if device:
        return [keys.login_failures(f"device:{device}")]
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [keys.login_failures(f"email:{account}"), keys.login_failures(f"ip:{_client(address)}")]


def _client(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def take(email: str, address: str, device: str | None = None) -> int:
    """Count a login attempt before its password is checked: 0 when it may be checked now,
    else the seconds to wait (and nothing was counted). ``device`` is the token of a browser
    the admin ``email`` logged in from before."""
    client = get_redis()
    wait_ms = client.register_script(_TAKE)(
        keys=subject_keys(email, address, device),
        args=[FREE_ATTEMPTS, BASE_S * 1000, CAP_S * 1000, FORGET_S * 1000],
    )
    return (int(wait_ms) + 999) // 1000


def succeeded(email: str, address: str, device: str | None = None) -> None:
    """The attempt ``take`` counted (with the same arguments) had the right password."""
    get_redis().register_script(_SUCCEEDED)(
        keys=subject_keys(email, address, device), args=[FREE_ATTEMPTS]
    )
