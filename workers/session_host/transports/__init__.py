"""Transports: the one interface the session host drives, and its implementations.

Each is imported only when a session asks for it (``transport_class``), so that nothing outside
the session host ever loads the WhatsApp client.
"""

from __future__ import annotations

from workers.session_host.transports.base import Transport, TransportError

TRANSPORTS = ("neonize", "simulator")


def transport_class(name: str) -> type[Transport]:
    """Return the Transport implementation called ``name``."""
    if name == "simulator":
        from workers.session_host.transports.simulator import SimulatorTransport

        return SimulatorTransport
    if name == "neonize":
        from webapp.core import media_types

        if media_types.ensure() is None:  # neonize imports python-magic, which needs it
            raise TransportError(f"neonize needs libmagic. Install it: {media_types.INSTALL}")
        from workers.session_host.transports.neonize.transport import NeonizeTransport

        return NeonizeTransport
    raise TransportError(f"unknown transport {name!r}; expected one of {', '.join(TRANSPORTS)}")


__all__ = ["TRANSPORTS", "Transport", "TransportError", "transport_class"]
