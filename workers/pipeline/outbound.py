"""Where Kabar may connect on its own initiative: webhooks today, media fetches tomorrow.

A URL an API key gives Kabar must not become a way into the server's own surroundings. One
policy judges every address such a connection would go to (``refusal``):

- never a cloud metadata service (169.254.169.254 and the rest of link-local, Alibaba's
  100.100.100.200, AWS's fd00:ec2::254, Azure's 168.63.129.16, Oracle's 192.0.0.192, the names
  metadata.google.internal and metadata.goog), nor an unspecified, multicast, broadcast or
  reserved address;
- loopback, private (LAN, IPv6 unique-local), carrier-grade NAT (100.64.0.0/10) and other
  non-global addresses only when the caller allows private targets (off by default);
- an IPv4 address carried inside an IPv6 one (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
  ``::a.b.c.d``, NAT64 ``64:ff9b::/96`` and a site's own ``64:ff9b:1::/48``, 6to4
  ``2002::/16``, Teredo ``2001::/32``) is judged as the IPv4 address it reaches;
- an address literal is judged as written, its zone too (``[fe80::1%25eth0]``).

``opener(allow_private)`` is urllib with that policy applied at connect time: the name is
resolved once, and only an allowed address is connected to, so a name cannot answer a public
address to a check and a metadata address to the connection (DNS rebinding). It follows no
redirect and uses no proxy from the environment.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata and host-agent services outside link-local, refused whatever the setting.
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.0.0/16",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Tencent (169.254.0.23) ...
        "100.100.100.200/32",  # Alibaba Cloud
        "168.63.129.16/32",  # Azure WireServer / host agent
        "192.0.0.192/32",  # Oracle Cloud (legacy metadata)
        "fd00:ec2::/32",  # AWS over IPv6 (IMDS fd00:ec2::254, DNS ::253, NTP ::123)
        "fe80::/10",
    )
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
# Never a destination: "this network" (0.0.0.0 reaches this machine on Linux), broadcast.
_NEVER_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("0.0.0.0/8", "255.255.255.255/32", "::/128")
)
# Carrier-grade NAT (RFC 6598): the subscribers' side of an ISP, as private as a LAN.
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a site's own translator
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class AddressRefused(OSError):
    """Every address of a host is one Kabar does not connect to: nothing was connected."""


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 ``address`` reaches (none for a plain IPv6 address)."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _NAT64_LOCAL:
        # A site's own translator (RFC 8215), used as /96 prefixes: the IPv4 address it
        # reaches is the last 32 bits, as with the well-known prefix.
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)  # the relay server and the client behind it
    return found


def refusal(ip: str, allow_private: bool = False) -> str | None:
    """Why Kabar will not connect to ``ip``, e.g. "a cloud metadata address"; None when it may."""
    address = ipaddress.ip_address(ip.split("%")[0])
    # An address carrying an IPv4 one is only a way to write or reach that IPv4 address.
    for judged in embedded_ipv4(address) or [address]:
        if kind := _forbidden_kind(judged, allow_private):
            return f"{address}, a {kind} address"
    return None


def _forbidden_kind(address: Address, allow_private: bool) -> str | None:
    if any(address in net for net in METADATA_NETWORKS if net.version == address.version):
        return "cloud metadata or link-local"
    if (
        address.is_unspecified
        or address.is_multicast
        or any(address in net for net in _NEVER_NETWORKS if net.version == address.version)
    ):
        return "reserved"
    if (
        address.is_loopback
        or address.is_private
        or address in SHARED_ADDRESS_SPACE
        or address in _NAT64_LOCAL
    ):
        return None if allow_private else "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def refused_host(host: str, allow_private: bool = False) -> str | None:
    """Why Kabar will not connect to ``host`` (a name or an address literal), or None.

    A name is resolved and every address it has now is judged; a name that does not resolve is
    not refused here (the connection judges again, ``connect``)."""
    name = host.strip("[]").rstrip(".").lower()
    if name in METADATA_NAMES:
        return f"{host} (a cloud metadata name)"
    literal = unquote(name)  # a zone in a URL: [fe80::1%25eth0]
    try:
        ipaddress.ip_address(literal.split("%")[0])
    except ValueError:
        pass
    else:  # an address: judged as written, whether or not this host knows its zone
        if why := refusal(literal, allow_private):
            return f"{host} ({why})"
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None
    for *_, sockaddr in found:
        if why := refusal(str(sockaddr[0]), allow_private):
            return f"{host} ({why})"
    return None


def connect(
    address: tuple[str, int],
    timeout: float | None,
    source_address: tuple[str, int] | None = None,
    *,
    allow_private: bool,
    connected: Callable[[socket.socket], None] | None = None,
) -> socket.socket:
    """``socket.create_connection`` under the policy: allowed addresses of the name are tried
    in turn; raises ``AddressRefused`` when none is allowed. ``connected`` is given the socket
    (before any TLS)."""
    host, port = address
    if host.rstrip(".").lower() in METADATA_NAMES:
        raise AddressRefused(f"{host} (a cloud metadata name)")
    refused: str | None = None
    failure: OSError | None = None
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if why := refusal(str(sockaddr[0]), allow_private):
            refused = refused or f"{host} ({why})"
            continue
        try:
            sock = socket.create_connection((sockaddr[0], port), timeout, source_address)
        except OSError as exc:
            failure = exc
            continue
        if connected is not None:
            connected(sock)
        return sock
    raise failure or AddressRefused(refused)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to go on to."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _VettedConnection:
    """Mixed into http.client's connections, whose ``connect`` opens its socket with
    ``_create_connection``; HTTPS wraps TLS around that socket afterwards with the name, so SNI
    and the certificate check are unchanged."""

    def __init__(
        self,
        *args: Any,
        allow_private: bool,
        connected: Callable[[socket.socket], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(
            connect, allow_private=allow_private, connected=connected
        )


class _VettedHTTPConnection(_VettedConnection, http.client.HTTPConnection):
    pass


class _VettedHTTPSConnection(_VettedConnection, http.client.HTTPSConnection):
    pass


class _VettedHandler:
    """urllib's HTTP(S) handler opening its requests with a vetting ``connection``."""

    connection: type[http.client.HTTPConnection]

    def __init__(
        self, allow_private: bool, connected: Callable[[socket.socket], None] | None
    ) -> None:
        super().__init__()
        self.allow_private = allow_private
        self.connected = connected

    def _open_vetted(self, req: urllib.request.Request):
        # Not named "<scheme>_open": urllib would register the handler for such a scheme.
        vetting = functools.partial(
            self.connection, allow_private=self.allow_private, connected=self.connected
        )
        return self.do_open(vetting, req)


class _VettedHTTPHandler(_VettedHandler, urllib.request.HTTPHandler):
    connection = _VettedHTTPConnection
    http_open = _VettedHandler._open_vetted


class _VettedHTTPSHandler(_VettedHandler, urllib.request.HTTPSHandler):
    connection = _VettedHTTPSConnection
    https_open = _VettedHandler._open_vetted


def opener(
    allow_private: bool = False, connected: Callable[[socket.socket], None] | None = None
) -> urllib.request.OpenerDirector:
    """urllib without redirects or proxies, connecting only where the policy allows;
    ``connected`` is given each socket once connected, before any TLS."""
    return urllib.request.build_opener(
        _NoRedirect,
        # No proxy from the environment: a proxy would resolve the name itself, unvetted.
        urllib.request.ProxyHandler({}),
        _VettedHTTPHandler(allow_private, connected),
        _VettedHTTPSHandler(allow_private, connected),
    )
