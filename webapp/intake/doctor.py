"""``flask --app webapp doctor``: what stands between this server and a linked number.

Each check gives one finding: ok, a warning, or a failure with what to do. Reaching WhatsApp
(DNS, then TLS to port 443), the clock (against the Date header of WhatsApp's HTTPS answer),
libmagic, ffmpeg/ffprobe, WA_ENCRYPTION_KEY against the stored credentials, Redis and the
database. Every network step has a short timeout, so an offline server gets its answer in
seconds. Failures of reaching WhatsApp are explained by ``connect_advice``, as on the sessions
page. Texts are translated (``flask_babel``); the caller chooses the language.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_babel import gettext as _

import webapp.config as kabar_config
from webapp.core import connect_advice, media_types
from webapp.core.credentials import MissingEncryptionKey, check_key, derive_key

OK, WARN, FAIL = "ok", "warn", "fail"
WHATSAPP_HOSTS = ("web.whatsapp.com", "g.whatsapp.net")
WHATSAPP_PORT = 443
TIMEOUT_S = 5.0
# Beyond this, WhatsApp's certificates and login tokens may be refused as expired or early.
MAX_CLOCK_SKEW_S = 30
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, how it went, and what it means."""

    check: str
    level: str
    text: str


class _Unreachable(Exception):
    """A host could not be reached; ``advice`` says why in the operator's words."""

    def __init__(self, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.advice = connect_advice.advise(str(self)) or connect_advice.NETWORK


def examine(config: Mapping[str, Any], timeout_s: float = TIMEOUT_S) -> list[Finding]:
    """Run every check with the app's ``config``; the findings in the order they are shown."""
    findings: list[Finding] = []
    server_time = None
    for host in WHATSAPP_HOSTS:
        reached, when = _whatsapp_host(host, timeout_s)
        findings.extend(reached)
        server_time = server_time or when
    findings.append(_clock(server_time))
    findings.append(_libmagic())
    findings.append(_ffmpeg())
    findings.append(_encryption_key(config))
    findings.append(_redis(config["REDIS_URL"], timeout_s))
    findings.append(_database(config["SQLALCHEMY_DATABASE_URI"], timeout_s))
    return findings


def failed(findings: list[Finding]) -> bool:
    """Whether something essential failed (warnings are not)."""
    return any(f.level == FAIL for f in findings)


# WhatsApp -------------------------------------------------------------------------------------


def _whatsapp_host(host: str, timeout_s: float) -> tuple[list[Finding], datetime | None]:
    """DNS then TLS to ``host``; the server's clock when its HTTPS answer carried a Date."""
    dns_check, tls_check = f"DNS {host}", f"TLS {host}:{WHATSAPP_PORT}"
    try:
        addresses = _resolve(host, timeout_s)
    except _Unreachable as exc:
        return [
            Finding(dns_check, FAIL, f"{exc.advice.sentence()} ({exc})"),
            Finding(tls_check, FAIL, _("not tried: the name does not resolve")),
        ], None
    findings = [Finding(dns_check, OK, ", ".join(addresses[:3]))]
    try:
        version, server_time = _tls_date(host, addresses[0], timeout_s)
    except _Unreachable as exc:
        findings.append(Finding(tls_check, FAIL, f"{exc.advice.sentence()} ({exc})"))
        return findings, None
    findings.append(Finding(tls_check, OK, version))
    return findings, server_time


def _resolve(host: str, timeout_s: float) -> list[str]:
    """The addresses of ``host``; getaddrinfo has no timeout, so it runs on a thread."""
    outcome: dict[str, Any] = {}

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, WHATSAPP_PORT, type=socket.SOCK_STREAM)
            outcome["addresses"] = list(dict.fromkeys(info[4][0] for info in infos))
        except OSError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=lookup, name=f"doctor-dns-{host}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "addresses" in outcome:
        return outcome["addresses"]
    raise _Unreachable(outcome.get("error") or TimeoutError(f"lookup {host}: timed out"))


def _tls_date(host: str, address: str, timeout_s: float) -> tuple[str, datetime | None]:
    """Open TLS to ``address`` as ``host`` and ask for the Date header of ``HEAD /``."""
    context = ssl.create_default_context()
    try:
        with socket.create_connection((address, WHATSAPP_PORT), timeout=timeout_s) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                version = tls.version() or "TLS"
                tls.sendall(
                    f"HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
                )
                head = _read_head(tls, time.monotonic() + timeout_s)
    except (OSError, ssl.SSLError) as exc:
        raise _Unreachable(exc) from exc
    return version, _date_header(head)


def _read_head(sock: ssl.SSLSocket, deadline: float) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536 and time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except (OSError, ssl.SSLError):
            break
        if not chunk:
            break
        head += chunk
    return head


def _date_header(head: bytes) -> datetime | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _sep, value = line.partition(":")
        if name.strip().lower() == "date":
            try:
                return parsedate_to_datetime(value.strip())
            except (TypeError, ValueError):
                return None
    return None


def _clock(server_time: datetime | None) -> Finding:
    check = _("Clock")
    if server_time is None:
        return Finding(
            check,
            WARN,
            _(
                "could not be checked: WhatsApp did not answer. Make sure the clock is "
                "synchronised (timedatectl: 'System clock synchronized: yes')."
            ),
        )
    skew = (datetime.now(UTC) - server_time).total_seconds()
    if abs(skew) <= MAX_CLOCK_SKEW_S:
        return Finding(check, OK, _("%(seconds)+.0f s from WhatsApp's clock", seconds=skew))
    return Finding(
        check,
        FAIL,
        _(
            "%(seconds)+.0f s from WhatsApp's clock. %(advice)s",
            seconds=skew,
            advice=connect_advice.CLOCK.action,
        ),
    )


# This machine ---------------------------------------------------------------------------------


def _libmagic() -> Finding:
    """neonize imports python-magic, which needs libmagic: the system's or pylibmagic's copy."""
    check = "libmagic"
    found = media_types.ensure()
    if found is None:
        return Finding(
            check,
            FAIL,
            _("not found; neonize cannot start without it. Install it: %(command)s")
            % {"command": media_types.INSTALL},
        )
    if found.bundled:
        bundled = _("the copy bundled with Kabar (%(path)s)") % {"path": found.path}
        return Finding(check, OK, bundled)
    return Finding(check, OK, found.path)


def _ffmpeg() -> Finding:
    check = "ffmpeg/ffprobe"
    missing = [name for name in ("ffmpeg", "ffprobe") if shutil.which(name) is None]
    if missing:
        return Finding(
            check,
            WARN,
            _(
                "%(missing)s not found: needed only to send video, audio and stickers (text, "
                "images and documents work without). Install: sudo apt-get install -y ffmpeg",
                missing=", ".join(missing),
            ),
        )
    return Finding(check, OK, shutil.which("ffmpeg") or "")


def _encryption_key(config: Mapping[str, Any]) -> Finding:
    """WA_ENCRYPTION_KEY must open the stored credentials, or the host refuses to start."""
    check = "WA_ENCRYPTION_KEY"
    directory = Path(config.get("SESSION_STORE_DIR") or kabar_config.SESSION_STORE_DIR)
    try:
        key = derive_key(config.get("WA_ENCRYPTION_KEY") or kabar_config.WA_ENCRYPTION_KEY)
    except MissingEncryptionKey:
        return Finding(
            check,
            FAIL,
            _(
                "not set. Set it in .env (scripts/run.sh writes one on the first start); "
                "without it no number can be linked."
            ),
        )
    try:
        readable, unreadable = check_key(directory, key, config.get("SQLALCHEMY_DATABASE_URI"))
    except OSError as exc:
        return Finding(
            check,
            FAIL,
            _("cannot read %(path)s: %(error)s", path=directory, error=exc.strerror or exc),
        )
    except sa.exc.SQLAlchemyError as exc:
        return Finding(
            check,
            FAIL,
            _(
                "cannot read the stored credentials from the database: %(error)s",
                error=type(exc).__name__,
            ),
        )
    if unreadable:
        return Finding(
            check,
            FAIL,
            _(
                "cannot decrypt the stored credentials of %(sessions)s: it is not the key they "
                "were written with (another installation), or they are damaged. Start with the "
                "old key, or link those numbers again.",
                sessions=", ".join(unreadable),
            ),
        )
    if not readable:
        return Finding(check, OK, _("set; no credentials stored yet"))
    return Finding(
        check,
        OK,
        _("opens the stored credentials of %(sessions)s", sessions=", ".join(readable)),
    )


# Redis and the database -----------------------------------------------------------------------


def _redis(url: str, timeout_s: float) -> Finding:
    check = "Redis"
    shown = _without_password(url)
    try:
        with redis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        ) as client:
            client.ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        return Finding(
            check,
            FAIL,
            _(
                "cannot reach %(url)s (%(error)s). Start Redis, or set REDIS_URL to a "
                "reachable server.",
                url=shown,
                error=f"{type(exc).__name__}: {exc}",
            ),
        )
    return Finding(check, OK, shown)


def _database(uri: str, timeout_s: float) -> Finding:
    """Reach the database and compare its schema with the migrations of this code."""
    check = _("Database")
    url = sa.engine.make_url(uri)
    shown = url.render_as_string(hide_password=True)
    connect_args = (
        {"connect_timeout": max(int(timeout_s), 1)}
        if url.drivername.startswith("postgresql")
        else {}
    )
    engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            try:
                current = set(
                    connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
                )
            except sa.exc.DBAPIError:
                current = set()
    except sa.exc.SQLAlchemyError as exc:
        error = getattr(exc, "orig", None) or exc
        return Finding(
            check,
            FAIL,
            _(
                "cannot reach %(url)s (%(error)s). Start the database, or set DATABASE_URL "
                "to a reachable one.",
                url=shown,
                error=f"{type(error).__name__}: {str(error).strip().splitlines()[0]}",
            ),
        )
    finally:
        engine.dispose()
    heads = set(ScriptDirectory(str(MIGRATIONS)).get_heads())
    if current != heads:
        return Finding(
            check,
            FAIL,
            _(
                "%(url)s is reachable but its schema is not this version's: run "
                "flask --app webapp db upgrade",
                url=shown,
            ),
        )
    return Finding(check, OK, shown)


def _without_password(url: str) -> str:
    """``url`` with any password replaced by ***, for showing."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "(invalid URL)"
