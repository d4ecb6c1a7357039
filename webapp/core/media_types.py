"""What WhatsApp takes as an image or a document, what bytes are, and the libmagic that names them.

``sniff`` tells what bytes are, so a file that is not what its ``type`` says (an HTML error page
given as an image) is refused before any number is spent on it, and the simulator refuses what
WhatsApp would. Images are opened with Pillow (installed for QR codes); documents are named by
libmagic where it loads.

libmagic, the system's, else the copy bundled in the pylibmagic wheel (``ensure``): neonize
imports python-magic, which loads ``libmagic.so.1`` with ctypes and fails the import when the
machine has none (Debian's ``libmagic1`` is not there on a fresh server). pylibmagic ships a
build of libmagic with its database. Loading that file by path first is enough: python-magic's
own ``CDLL("libmagic.so.1")`` then gets it, since the dynamic linker matches a library already
loaded by its soname, and ``MAGIC`` points libmagic at the bundled database. pylibmagic itself is
never imported: its ``__init__`` patches ``ctypes.CDLL`` for the whole process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

import webapp.config as config
from workers.queue.contracts import SENDABLE_MEDIA_TYPES, MediaType

# What WhatsApp accepts per type (bytes): an image up to 16 MB, a document up to 100 MB.
WHATSAPP_LIMITS = {MediaType.IMAGE: 16 * 1024 * 1024, MediaType.DOCUMENT: 100 * 1024 * 1024}
# The image formats WhatsApp shows as a photo, by Pillow's name.
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
GENERIC_MIMETYPE = "application/octet-stream"


class MediaRefused(ValueError):
    """The bytes are not what they were said to be, or too large for WhatsApp."""


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
    if ensure() is None:
        return None
    try:
        import magic
    except ImportError:
        return None
    return functools.partial(magic.from_buffer, mime=True)


# libmagic ----------------------------------------------------------------------------------------

SONAME = "libmagic.so.1"
INSTALL = "sudo apt-get install -y libmagic1  (macOS: brew install libmagic)"


@dataclass(frozen=True)
class Libmagic:
    """The libmagic python-magic will use: its name or path, and whether it is the bundled one."""

    path: str
    bundled: bool


def system_library() -> str | None:
    """The name under which the system's libmagic loads, or None when it has none."""
    for name in dict.fromkeys(filter(None, (ctypes.util.find_library("magic"), SONAME))):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return name
    return None


def bundled_library() -> Path | None:
    """pylibmagic's ``libmagic.so.1`` when that wheel is installed (found without importing it)."""
    spec = importlib.util.find_spec("pylibmagic")
    if spec is None or not spec.submodule_search_locations:
        return None
    library = Path(next(iter(spec.submodule_search_locations))) / SONAME
    return library if library.is_file() else None


@functools.cache
def ensure() -> Libmagic | None:
    """Make libmagic loadable for python-magic; which one it is, or None when there is none."""
    found = system_library()
    if found:
        return Libmagic(found, bundled=False)
    library = bundled_library()
    if library is None:
        return None
    try:
        ctypes.CDLL(str(library))
    except OSError:
        return None
    config.export_default("MAGIC", str(library.with_name("magic.mgc")))
    return Libmagic(str(library), bundled=True)
