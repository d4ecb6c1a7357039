"""What WhatsApp takes as an image or a document, and how a transport is handed one.

``sniff`` tells what bytes are, so a file that is not what its ``type`` says (an HTML error page
given as an image) is refused before any number is spent on it, and the simulator refuses what
WhatsApp would. Images are opened with Pillow (installed for QR codes); documents are named by
libmagic where it loads.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

from workers.queue.contracts import SENDABLE_MEDIA_TYPES, MediaType, RpcCode
from workers.session_host.transports.base import SendFailed, TransportError

# Until webapp/intake/templates.py imports SENDABLE_MEDIA_TYPES from workers.queue.contracts.
TYPES = SENDABLE_MEDIA_TYPES
# What WhatsApp accepts per type (bytes): an image up to 16 MB, a document up to 100 MB.
WHATSAPP_LIMITS = {MediaType.IMAGE: 16 * 1024 * 1024, MediaType.DOCUMENT: 100 * 1024 * 1024}
# The image formats WhatsApp shows as a photo, by Pillow's name.
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
GENERIC_MIMETYPE = "application/octet-stream"


class MediaRefused(ValueError):
    """The bytes are not what they were said to be, or too large for WhatsApp."""


class MediaRejected(SendFailed):
    """WhatsApp would not take the attachment (not what its type says, too large): that message
    fails, the number goes on."""

    code = RpcCode.MEDIA_REJECTED


class MediaMissing(TransportError):
    """The attachment's bytes were not in Redis (expired, or Redis lost them): nothing went out."""

    code = RpcCode.MEDIA_MISSING


@dataclass(frozen=True)
class Media:
    """An attachment as a transport sends it."""

    type: str  # image | document
    data: bytes
    mimetype: str
    sha256: str
    file_name: str | None = None


def sniff(data: bytes, type_: str, mimetype: str | None = None) -> str:
    """The MIME type of ``data`` sent as ``type_``; raises MediaRefused when the bytes are not
    such a file (or past WhatsApp's size limit for it). ``mimetype`` is what the sender said."""
    if type_ not in SENDABLE_MEDIA_TYPES:
        raise MediaRefused(f"type must be one of {', '.join(SENDABLE_MEDIA_TYPES)}")
    if not data:
        raise MediaRefused("the file is empty")
    if len(data) > WHATSAPP_LIMITS[type_]:
        raise MediaRefused(
            f"the file has {len(data)} bytes, more than the "
            f"{WHATSAPP_LIMITS[type_] // (1024 * 1024)} MB WhatsApp takes"
        )
    detected = _libmagic_type(data)
    if type_ == MediaType.IMAGE:
        found = _image_format(data)
        if found is None:
            raise MediaRefused(f"the file is not a JPEG, PNG or WebP image (it is {detected})")
        return IMAGE_FORMATS[found]
    if detected == "text/html":
        raise MediaRefused("the file is an HTML page, not a document")
    if mimetype == "application/pdf" and not data.startswith(b"%PDF-"):
        raise MediaRefused(f"the file is not a PDF (it is {detected})")
    if mimetype and "/" in mimetype:
        return mimetype
    return detected


def _image_format(data: bytes) -> str | None:
    """Pillow's name of the image format of ``data``; None when it is no image. A few bytes
    may claim billions of pixels: Pillow refuses to open those (a decompression bomb), and so
    does WhatsApp."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            found = image.format
            image.verify()
    except Image.DecompressionBombError:
        raise MediaRefused("the image has too many pixels to send") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return found if found in IMAGE_FORMATS else None


def _libmagic_type(data: bytes) -> str:
    detect = _libmagic()
    if detect is None:
        return GENERIC_MIMETYPE
    try:
        return detect(data[:65536]) or GENERIC_MIMETYPE
    except Exception:  # noqa: BLE001 - naming the type is a courtesy, never a refusal
        return GENERIC_MIMETYPE


@functools.cache
def _libmagic():
    from workers.session_host.transports import libmagic

    if libmagic.ensure() is None:
        return None
    try:
        import magic
    except ImportError:
        return None
    return functools.partial(magic.from_buffer, mime=True)
