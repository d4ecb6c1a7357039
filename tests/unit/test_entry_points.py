"""Every Kabar module that a script, a unit file, CI, the Procfile or the README names exists.

Those name modules in text (``python -m workers.session_host``, ``dramatiq
workers.pipeline.actors``, ``python -c 'from webapp.core import media_types'``), which no import
check of the code reads: a module moved without them would fail only on a fresh machine, when
``scripts/setup.sh`` or a systemd unit runs. Read with ``ast``, nothing imported.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("webapp", "workers", "bench")
SOURCES = (
    "honcho.Procfile",
    ".ci/run",
    "scripts/*.sh",
    "scripts/*.py",
    "deploy/systemd/*.service",
    "README.md",
)
# ``-m a.b`` and ``dramatiq a.b``; ``from a.b import c, d`` and ``import a.b`` in ``-c`` code.
MODULE = r"((?:webapp|workers|bench)(?:\.\w+)*)"
RUN = re.compile(r"(?:-m|dramatiq)\s+" + MODULE)
FROM = re.compile(r"from\s+" + MODULE + r"\s+import\s+([\w ,]+)")
IMPORT = re.compile(r"(?<![\w.])import\s+" + MODULE)


def module_file(name: str) -> Path | None:
    base = ROOT / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def top_level_names(path: Path) -> set[str]:
    """The names a module defines or imports at its top level."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def named_in(text: str) -> list[str]:
    """What ``text`` names: modules, and ``module:name`` for names imported from one."""
    found = [m.group(1) for m in RUN.finditer(text)] + [m.group(1) for m in IMPORT.finditer(text)]
    for m in FROM.finditer(text):
        found += [f"{m.group(1)}:{name.strip()}" for name in m.group(2).split(",") if name.strip()]
    return found


def missing(reference: str) -> bool:
    module, _, name = reference.partition(":")
    path = module_file(module)
    if path is None:
        return True
    return (
        bool(name)
        and module_file(f"{module}.{name}") is None
        and (name not in top_level_names(path))
    )


def test_every_module_named_by_scripts_units_ci_procfile_and_readme_exists():
    references = {
        (str(path.relative_to(ROOT)), reference)
        for pattern in SOURCES
        for path in ROOT.glob(pattern)
        for reference in named_in(path.read_text())
    }
    assert {ref for _, ref in references} >= {
        "workers.session_host",
        "workers.pipeline.actors",
        "workers.pipeline.scheduler",
        "webapp.core:media_types",
    }, "the patterns no longer find what the Procfile and setup.sh name"
    gone = sorted(f"{where}: {ref}" for where, ref in references if missing(ref))
    assert not gone, "modules named in text that do not exist:\n" + "\n".join(gone)


def test_a_moved_module_is_found_missing():
    assert missing("workers.session_host.transports:libmagic")
    assert missing("workers.actors")
    assert not missing("webapp.core:media_types")
