"""Attachments of outgoing messages: checked when a message is accepted, fetched and stored
before it is sent.

The API's ``media`` is ``{url | base64, type: image|document, fileName?, mimetype?}``; the
message's text (or template) is its caption. Base64 bytes are checked and stored at once; a
URL is fetched by the worker just before sending (``prepare``), never by neonize (which fetches
without a time-out and takes other strings for local paths). Fetching follows the address
policy of ``workers.pipeline.outbound`` (no metadata or reserved addresses, no redirects;
loopback and LAN only with the setting ``media_allow_private``), gives up after
``MEDIA_FETCH_TIMEOUT_S`` and stops reading as soon as the file passes ``media_max_mb``.

The bytes live in ``media_files`` keyed by their SHA-256, so a file shared by a whole bulk
send is stored once and a queued attachment survives a Redis crash; the worker puts them in
Redis (``workers.queue.media``) for the session host's client to read. What cannot be fetched or is
not what its type says fails that message before any number's slot or daily cap is spent.
"""

from __future__ import annotations

import binascii
import hashlib
import http.client
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app

from webapp import settings
from webapp.core.errors import MediaInvalid
from webapp.core.media_types import MediaRefused, sniff
from webapp.extensions import db
from webapp.models import MediaFile, WhatsAppMessage, utcnow
from webapp.redis_client import get_redis
from workers.pipeline import outbound
from workers.queue import keys, media
from workers.queue.contracts import SENDABLE_MEDIA_TYPES

if TYPE_CHECKING:
    from workers.pipeline.sending import Outgoing

MAX_URL = 2000
MAX_FILE_NAME = 255
MIMETYPE = re.compile(r"[\w.+-]+/[\w.+-]+")
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Attachment:
    """What a message row records of its attachment (``columns``)."""

    type: str
    url: str | None = None
    sha256: str | None = None
    file_name: str | None = None
    mimetype: str | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "media_type": self.type,
            "media_url": self.url,
            "media_sha256": self.sha256,
            "media_file_name": self.file_name,
            "media_mimetype": self.mimetype,
            "render_mode": "media",
        }


def accept(spec: Any) -> Attachment:
    """The API's ``media`` object, checked; base64 bytes are checked and stored now. Raises
    MediaInvalid naming ``media.<key>``."""
    if not isinstance(spec, Mapping):
        raise MediaInvalid("media is an object {url or base64, type}", field="media")
    type_ = spec.get("type")
    if type_ not in SENDABLE_MEDIA_TYPES:
        raise MediaInvalid(
            f"type must be one of {', '.join(SENDABLE_MEDIA_TYPES)}", field="media.type"
        )
    file_name = _optional_text(spec, "fileName", MAX_FILE_NAME)
    mimetype = _optional_text(spec, "mimetype", 100)
    if mimetype is not None and not MIMETYPE.fullmatch(mimetype):
        raise MediaInvalid(
            "mimetype is a MIME type such as application/pdf", field="media.mimetype"
        )
    if type_ == "image":
        mimetype = None  # an image's type is read from its bytes
    url, data = spec.get("url"), spec.get("base64")
    if (url is None) == (data is None):
        raise MediaInvalid("give either url or base64", field="media.url")
    if url is not None:
        return Attachment(
            type_, url=check_url(url, "media.url"), file_name=file_name, mimetype=mimetype
        )
    raw = _decoded(data)
    sha256 = store(raw, type_, mimetype, "media.base64")
    return Attachment(type_, sha256=sha256, file_name=file_name, mimetype=mimetype)


def check_url(url: Any, field: str) -> str:
    """``url`` if it is an http(s) URL with a host; where it leads is judged when fetched."""
    if not isinstance(url, str) or not url.strip():
        raise MediaInvalid("give an http:// or https:// URL with a host", field=field)
    url = url.strip()
    if len(url) > MAX_URL:
        raise MediaInvalid("the URL is longer than 2000 characters", field=field)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaInvalid("give an http:// or https:// URL with a host", field=field)
    if "@" in parts.netloc:
        # urllib sends no credentials from a URL: the fetch could only fail, quoting them.
        raise MediaInvalid(
            "the URL must not carry a user name or password; Kabar does not send them",
            field=field,
        )
    return url


def _optional_text(spec: Mapping, key: str, longest: int) -> str | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise MediaInvalid(f"{key} is text of 1 to {longest} characters", field=f"media.{key}")
    return value.strip()


def _decoded(data: Any) -> bytes:
    if not isinstance(data, str):
        raise MediaInvalid("base64 is the file's bytes in base64", field="media.base64")
    text = data.split(",", 1)[1] if data.startswith("data:") else data  # a data: URL
    try:
        raw = binascii.a2b_base64(re.sub(r"\s", "", text), strict_mode=True)
    except (binascii.Error, ValueError):
        raise MediaInvalid("base64 is not valid base64", field="media.base64") from None
    _check_size(len(raw), "media.base64")
    return raw


def max_bytes() -> int:
    return int(settings.get("media_max_mb")) * 1024 * 1024


def _check_size(size: int, field: str) -> None:
    if size > max_bytes():
        raise MediaInvalid(_too_large(), field=field)


def store(data: bytes, type_: str, mimetype: str | None, field: str) -> str:
    """Keep ``data`` (once per content) after checking it is a ``type_``; its SHA-256.
    Raises MediaInvalid with the reason. Commits nothing: the caller does, with the message
    that refers to it."""
    try:
        found = sniff(data, type_, mimetype)
    except MediaRefused as exc:
        raise MediaInvalid(str(exc), field=field) from None
    sha256 = hashlib.sha256(data).hexdigest()
    values = {
        "sha256": sha256,
        "data": data,
        "mimetype": found,
        "size": len(data),
        "used_at": utcnow(),
    }
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(MediaFile).values(**values)
    # Touching used_at of a file already there keeps retention off it while this message is
    # being written (see retention.MEDIA_GRACE).
    db.session.execute(
        statement.on_conflict_do_update(index_elements=["sha256"], set_={"used_at": utcnow()})
    )
    return sha256


# before sending ----------------------------------------------------------------------------------


class FetchFailed(Exception):
    """Why a media URL gave no file to send."""


def fetch(url: str) -> bytes:
    """The bytes at ``url``, under the address policy, the time-out and the size cap; raises
    FetchFailed with the reason. The time-out bounds the whole fetch: urllib's bounds each
    read only, and a server dripping a byte at a time would hold the worker for hours."""
    try:
        url = check_url(url, "media.url")  # a template's mediaUrl is only checked now
    except MediaInvalid as exc:
        raise FetchFailed(exc.message) from None
    timeout = current_app.config["MEDIA_FETCH_TIMEOUT_S"]
    request = urllib.request.Request(url, headers={"User-Agent": "Kabar"})
    with _Deadline(timeout) as deadline:
        opener = outbound.opener(settings.get("media_allow_private"), deadline.watch)
        try:
            data = _download(opener, request, timeout, max_bytes())
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if deadline.expired:
                raise FetchFailed(_late(timeout)) from None
            raise _failure(exc, timeout) from None
    if deadline.expired:  # its connection was cut: what was read may be only part of the file
        raise FetchFailed(_late(timeout))
    return data


def _download(opener: Any, request: urllib.request.Request, timeout: float, limit: int) -> bytes:
    with opener.open(request, timeout=timeout) as response:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise FetchFailed(_too_large())
        data = bytearray()
        while chunk := response.read(CHUNK):
            data += chunk
            if len(data) > limit:
                raise FetchFailed(_too_large())
        return bytes(data)


def _failure(exc: Exception, timeout: float) -> FetchFailed:
    if isinstance(exc, urllib.error.HTTPError):
        if 300 <= exc.code < 400:
            return FetchFailed(
                f"the media URL answered with a redirect (HTTP {exc.code}), which Kabar does "
                "not follow"
            )
        return FetchFailed(f"the media URL answered HTTP {exc.code}")
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, Exception):
        exc = exc.reason  # what stopped the connection
    if isinstance(exc, outbound.AddressRefused):
        return FetchFailed(f"Kabar does not fetch media from {exc}")
    if isinstance(exc, TimeoutError):
        return FetchFailed(_late(timeout))
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return FetchFailed(f"the media URL could not be reached: {reason}")


def _late(timeout: float) -> str:
    return f"the media URL did not answer within {timeout:g} s"


class _Deadline:
    """Ends a fetch ``seconds`` after it began: its connections are shut down then, so a read
    under way returns at once; ``expired`` tells the caller why. It shuts down a duplicate of
    each socket, which TLS does not take over and which no other connection can reuse before
    the fetch is over."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock.dup())
            if self.expired:
                _cut(self._sockets[-1])

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _cut(sock)


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the connection is over already


def _too_large() -> str:
    return f"the file has more than {settings.get('media_max_mb')} MB, the most Kabar sends"


def prepare(messages: list[Outgoing]) -> tuple[list[Outgoing], dict[int, str]]:
    """Make every attachment of ``messages`` ready to send: fetch what was given by URL and
    not fetched yet (once per URL), store it, and put the bytes where the session host reads
    them. Returns the messages ready to send (their ``media`` now the wire descriptor), and
    the reason of each message whose attachment could not be made ready."""
    ready, failed = [], {}
    fetched: dict[str, tuple[str | None, str | None]] = {}  # url -> (sha256, why not)
    for message in messages:
        if message.media is None or message.media.get("sha256"):
            ready.append(message)
            continue
        url = message.media["url"]
        if url not in fetched:
            fetched[url] = _fetch_and_store(url, message.media)
        sha256, why_not = fetched[url]
        if sha256 is None:
            failed[message.id] = why_not
        else:
            ready.append(_fetched(message, sha256))
    db.session.commit()
    return _staged(ready), failed


def _fetch_and_store(url: str, attachment: Mapping[str, Any]) -> tuple[str | None, str | None]:
    try:
        data = fetch(url)
        return store(data, attachment["type"], attachment.get("mimetype"), "media.url"), None
    except FetchFailed as exc:
        return None, str(exc)
    except MediaInvalid as exc:
        return None, f"the media URL gave a file Kabar cannot send: {exc.message}"


def _fetched(message: Outgoing, sha256: str) -> Outgoing:
    """Once fetched, a URL's file is the message's for good: a retry sends the same bytes."""
    M = WhatsAppMessage
    db.session.execute(sa.update(M).where(M.id == message.id).values(media_sha256=sha256))
    return replace(message, media={**message.media, "sha256": sha256})


def _staged(messages: list[Outgoing]) -> list[Outgoing]:
    """``messages`` with their attachments' bytes in Redis, and ``media`` as the wire form
    describes it."""
    wanted = {m.media["sha256"] for m in messages if m.media}
    if not wanted:
        return messages
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    for sha256 in wanted:
        pipe.expire(keys.media_blob(sha256), media.BLOB_TTL_S)  # 0 when it is not there
    there = dict(zip(wanted, pipe.execute(), strict=True))
    F = MediaFile
    files = {
        row.sha256: row
        for row in db.session.execute(
            sa.select(F.sha256, F.mimetype, F.size).where(F.sha256.in_(wanted))
        )
    }
    _stage_from_store(client, [sha256 for sha256, present in there.items() if not present])
    return [_described(m, files) if m.media else m for m in messages]


def restage(sha256s: set[str]) -> None:
    """Put these attachments' bytes back in Redis (they were gone when a send asked)."""
    _stage_from_store(get_redis(), sha256s)


def _stage_from_store(client: Any, sha256s: Iterable[str]) -> None:
    """Copy these files from PostgreSQL to Redis one by one: a batch of 16 MB invoices is
    never all in the worker's memory at once."""
    F = MediaFile
    for sha256 in sha256s:
        data = db.session.scalar(sa.select(F.data).where(F.sha256 == sha256))
        if data is not None:
            media.stage(client, {sha256: data})
        del data
    db.session.rollback()


def restage_for(message_ids: list[int]) -> None:
    """Put the attachments of these messages back in Redis (gone when their sends asked)."""
    M = WhatsAppMessage
    sha256s = set(
        db.session.scalars(
            sa.select(M.media_sha256).where(M.id.in_(message_ids), M.media_sha256.is_not(None))
        )
    )
    db.session.rollback()
    if sha256s:
        restage(sha256s)


def _described(message: Outgoing, files: Mapping[str, Any]) -> Outgoing:
    attachment = message.media
    file = files[attachment["sha256"]]
    return replace(
        message,
        media={
            "sha256": file.sha256,
            "type": attachment["type"],
            "mimetype": attachment.get("mimetype") or file.mimetype,
            "fileName": attachment.get("fileName"),
            "size": file.size,
        },
    )
