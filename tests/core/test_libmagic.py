"""neonize on a machine without Debian's libmagic1: the copy in the pylibmagic wheel is used.

The system's libmagic is hidden the way a fresh machine lacks it: in a mount namespace of the
command alone, /dev/null is bound over the library file, so loading it fails as a missing one
does. Nothing outside that command sees a change.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.intake.test_doctor import lines
from tests.receivers import free_port
from webapp.core import media_types

ROOT = Path(__file__).resolve().parents[2]


def loaded_path(name: str) -> str | None:
    """The file behind a library this process loads as ``name``, from /proc/self/maps."""
    try:
        ctypes.CDLL(name)
    except OSError:
        return None
    for line in Path("/proc/self/maps").read_text().splitlines():
        if name in line.rsplit("/", 1)[-1] and "/" in line:
            return os.path.realpath(line.split(maxsplit=5)[5])
    return None


SYSTEM_LIBMAGIC = loaded_path(media_types.SONAME) if media_types.system_library() else None


def namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    SYSTEM_LIBMAGIC is None or not namespaces_work(),
    reason="needs the system's libmagic to hide and mount namespaces (unshare -m, as root)",
)


def run_hiding(files: list[str], *argv: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``argv`` with each of ``files`` unreadable as a library (/dev/null bound over it)."""
    mounts = " && ".join(f"mount --bind /dev/null {path}" for path in files)
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$@"', "-"]
        + list(argv),
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


NEONIZE_AND_A_PNG = """
import io
from PIL import Image
from webapp.core import media_types
from workers.session_host.transports import transport_class
transport_class("neonize")  # imports neonize, which imports python-magic
import magic
png = io.BytesIO()
Image.new("RGB", (4, 4)).save(png, "PNG")
print(media_types.ensure().bundled, magic.from_buffer(png.getvalue(), mime=True))
"""


def test_neonize_loads_with_the_bundled_libmagic_where_the_system_has_none():
    run = run_hiding([SYSTEM_LIBMAGIC], sys.executable, "-c", NEONIZE_AND_A_PNG)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "image/png"]


def doctor(hidden: list[str]) -> dict[str, str]:
    run = run_hiding(
        hidden,
        sys.executable, "-m", "flask", "--app", "webapp", "doctor", "--timeout", "1",
        KABAR_LANGUAGE="en", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )  # fmt: skip
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    return lines(run.stdout)


def test_the_doctor_names_the_bundled_libmagic():
    assert doctor([SYSTEM_LIBMAGIC])["libmagic"] == (
        f"[ok] the copy bundled with Kabar ({media_types.bundled_library()})"
    )


def test_without_any_libmagic_the_doctor_and_the_session_say_how_to_install_it():
    hidden = [SYSTEM_LIBMAGIC, str(media_types.bundled_library())]
    assert doctor(hidden)["libmagic"] == (
        "[FAILED] not found; neonize cannot start without it. Install it: "
        "sudo apt-get install -y libmagic1  (macOS: brew install libmagic)"
    )
    run = run_hiding(
        hidden,
        sys.executable, "-c",
        "from workers.session_host.transports import transport_class\n"
        "try:\n    transport_class('neonize')\nexcept Exception as exc:\n    print(exc)",
    )  # fmt: skip
    assert run.stdout.strip() == (
        "neonize needs libmagic. Install it: sudo apt-get install -y libmagic1  "
        "(macOS: brew install libmagic)"
    ), run.stderr
