"""libmagic for neonize: the system's, else the copy bundled in the pylibmagic wheel.

neonize imports python-magic, which loads ``libmagic.so.1`` with ctypes and fails the import when
the machine has none (Debian's ``libmagic1`` is not there on a fresh server). pylibmagic ships a
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
from dataclasses import dataclass
from pathlib import Path

import webapp.config as config

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
