"""What the session host and a number's client process say to each other over their socket.

One JSON object per line, in both directions:

- host -> client: ``{"op": "init", "key", "redis_url", "store_dir"}`` once, first; then
  ``{"op": "call", "id", "session", "method", "args"}``;
- client -> host: ``{"op": "reply", "id", "result"}`` or ``{"op": "reply", "id", "error":
  {"code", "message", "transport_error"}}``, and ``{"op": "event", "session", "kind", "data"}``
  for every event a transport emits, in the order it emitted them.

A closed socket is the end: the client exits when its host is gone, and the host knows its
client has died.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

# Longest line either side accepts: a QR code, a batch of contacts, an error with Go's trace.
MAX_LINE = 8 * 1024 * 1024


class Channel:
    """Both directions of one socket: ``send`` is thread-safe, ``messages`` yields until EOF."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb")
        self._write = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n"
        with self._write:
            self.sock.sendall(data)

    def messages(self) -> Iterator[dict[str, Any]]:
        while True:
            try:
                line = self._reader.readline(MAX_LINE)
            except (OSError, ValueError):  # ValueError: closed meanwhile
                return
            if not line:
                return
            try:
                yield json.loads(line)
            except ValueError:
                continue  # a torn last line of a dying peer

    def close(self) -> None:
        # Shut down first: that wakes a reader blocked in readline, which close() would wait on.
        for close in (lambda: self.sock.shutdown(socket.SHUT_RDWR), self._reader.close):
            try:
                close()
            except (OSError, ValueError):
                pass
        self.sock.close()
