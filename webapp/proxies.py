"""What Kabar believes about a request that came through a reverse proxy.

Behind nginx or Caddy every request comes from 127.0.0.1 over plain HTTP. With
``KABAR_TRUSTED_PROXIES=N`` (the proxies in front of Kabar, usually 1) the last N entries of
X-Forwarded-For / -Proto / -Host / -Port / -Prefix are believed (werkzeug's ProxyFix), so
``request.remote_addr`` is the real client (login throttling, /metrics) and ``request.is_secure``
says whether the browser spoke HTTPS. With 0 (the default) no header is believed: a client could
write any of them itself.

Cookies are Secure whenever the request came over HTTPS, and always with
``KABAR_SECURE_COOKIES=1`` (for a proxy that terminates TLS but cannot be trusted with headers).
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure on HTTPS requests as well as by configuration."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure


def install(app: Flask) -> None:
    trusted = app.config["TRUSTED_PROXIES"]
    if trusted:
        app.wsgi_app = ProxyFix(
            app.wsgi_app,
            x_for=trusted,
            x_proto=trusted,
            x_host=trusted,
            x_port=trusted,
            x_prefix=trusted,
        )
    app.session_interface = SessionInterface()


def forwarded_for_someone_else(app: Flask) -> bool:
    """True when a proxy Kabar does not trust forwarded this request: the address it came from
    is the proxy's, not the client's, so it proves nothing (it is loopback for every visitor)."""
    return not app.config["TRUSTED_PROXIES"] and any(
        header in request.headers for header in FORWARDING_HEADERS
    )
