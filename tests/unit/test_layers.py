"""Imports point down the path a message travels, never back up it.

Every module of webapp/ and workers/ is read with ``ast`` (nothing is imported), each ``import``
and ``from ... import`` in it (relative ones, those inside functions and ``if TYPE_CHECKING:``
blocks included) is resolved to the module it names, and each import is checked against the
layers below, top to bottom:

    web  ->  webapp.intake  ->  workers.pipeline  ->  workers.session_host  ->  its transports
         ->  the simulated WhatsApp network (what the simulator transport talks to)

An import may point down (skipping layers is fine) or into the shared modules, which anyone may
import and which import only each other. No module of webapp imports a transport. A module
belongs to the layer of its longest matching prefix; the package roots ``webapp`` (the factory)
and ``workers`` match only themselves, so a new folder must be placed here before it can pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("webapp", "workers")

SHARED = "shared"
# Top to bottom; a module may import its own layer, any layer below, and the shared modules.
LAYERS: dict[str, tuple[str, ...]] = {
    "web": (
        "webapp",
        "webapp.api",
        "webapp.admin",
        "webapp.compat",
        "webapp.cli",
        "webapp.prometheus",
        "webapp.i18n",
        "webapp.phrases",
        "webapp.labels",
        "webapp.proxies",
        "webapp.request_size",
    ),
    "intake": ("webapp.intake",),
    "pipeline": ("workers.pipeline",),
    "session_host": ("workers.session_host",),
    "transports": ("workers.session_host.transports",),
    # The far end of the simulator transport, as WhatsApp is neonize's: the web reads it too
    # (the simulator's API shows each virtual phone's inbox), which is no transport.
    "network": ("workers.session_host.simulated_network",),
    SHARED: (
        "workers",
        "webapp.core",
        "webapp.models",
        "webapp.extensions",
        "webapp.config",
        "webapp.settings",
        "webapp.redis_client",
        "workers.queue",
    ),
}
RANK = {layer: rank for rank, layer in enumerate(layer for layer in LAYERS if layer != SHARED)}
# Package roots stand for themselves only: ``webapp`` is the factory, ``workers`` a docstring.
EXACT = {"webapp", "workers"}
TRANSPORTS = "workers.session_host.transports"

# Imports allowed against the layer order, each for its reason: (importing module, what it may
# import), the second matched as a layer prefix is (``webapp.intake`` covers webapp.intake.bulk).
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("workers.pipeline.actors", "webapp"): (
        "the worker's entry builds its own app (create_app) to get an app context"
    ),
    ("workers.pipeline.actors", "webapp.intake"): (
        "bulk expansion runs in a worker: the actor calls the intake service that expands a job"
    ),
}

# Violations that were there when this test was written and are being removed; each pair is
# (importing module, imported module). Empty it as they go: a new violation fails at once, and a
# pair listed here that no longer occurs fails too, so the list only ever shrinks.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def module_files() -> dict[str, Path]:
    """Dotted name -> file, for every module of webapp/ and workers/ (a package is its
    ``__init__``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def existing(name: str) -> str | None:
    """The module of ours that ``name`` lies in (``a.b.attr`` -> ``a.b``); None if not ours."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imported_modules(name: str, path: Path) -> set[str]:
    """The modules of webapp/ and workers/ that the module ``name`` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from a import b`` names the module a.b when there is one, else a's attribute.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            module = existing(target)
            if module and module != name:
                found.add(module)
    return found


def under(module: str, prefix: str) -> bool:
    """Whether ``module`` is ``prefix`` or lies inside it (package roots hold only themselves)."""
    return module == prefix or (prefix not in EXACT and module.startswith(prefix + "."))


def layer_of(module: str) -> str | None:
    """The layer of the longest prefix that matches ``module``; None if it has none."""
    best, best_length = None, -1
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if under(module, prefix) and len(prefix) > best_length:
                best, best_length = layer, len(prefix)
    return best


def excepted(importer: str, imported: str) -> bool:
    return any(importer == who and under(imported, what) for who, what in EXCEPTIONS)


def why_wrong(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported``, or None if it may."""
    if excepted(importer, imported):
        return None
    if importer.split(".")[0] == "webapp" and under(imported, TRANSPORTS):
        return "webapp imports a transport"
    source, target = layer_of(importer), layer_of(imported)
    if source is None or target is None or target == SHARED:
        return None
    if source == SHARED:
        return f"a shared module imports the {target} layer"
    if RANK[target] < RANK[source]:
        return f"{source} imports up into {target}"
    return None


def violations() -> dict[tuple[str, str], str]:
    found = {}
    for name, path in MODULES.items():
        for imported in imported_modules(name, path):
            reason = why_wrong(name, imported)
            if reason:
                found[(name, imported)] = reason
    return found


def test_every_module_is_in_a_layer():
    unplaced = sorted(name for name in MODULES if layer_of(name) is None)
    assert not unplaced, "place these modules in a layer of LAYERS: " + ", ".join(unplaced)


def test_imports_point_down_the_layers():
    new = {pair: why for pair, why in violations().items() if pair not in KNOWN_VIOLATIONS}
    lines = [
        f"{importer} -> {imported}: {why}" for (importer, imported), why in sorted(new.items())
    ]
    assert not new, "imports against the layer order:\n" + "\n".join(lines)


def test_the_known_violations_are_still_there():
    """A violation that was fixed leaves KNOWN_VIOLATIONS, so it cannot come back unnoticed."""
    fixed = sorted(KNOWN_VIOLATIONS - set(violations()))
    assert not fixed, "remove from KNOWN_VIOLATIONS: " + ", ".join(f"{a} -> {b}" for a, b in fixed)


def test_the_exceptions_are_still_needed():
    found = [
        (name, imported)
        for name, path in MODULES.items()
        for imported in imported_modules(name, path)
    ]
    unused = sorted(
        (who, what)
        for who, what in EXCEPTIONS
        if not any(name == who and under(imported, what) for name, imported in found)
    )
    assert not unused, "remove from EXCEPTIONS: " + ", ".join(f"{a} -> {b}" for a, b in unused)


def test_the_walk_sees_every_kind_of_import(tmp_path):
    """Relative imports, imports in functions and under TYPE_CHECKING all count."""
    source = tmp_path / "module.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sending\n"
        "from ..queue import keys\n"
        "if TYPE_CHECKING:\n"
        "    from webapp.intake.bulk import BulkJob\n"
        "def later():\n"
        "    import workers.session_host.rpc\n"
        "    from webapp import create_app\n"
    )
    assert imported_modules("workers.pipeline.routing", source) == {
        "workers.pipeline.sending",
        "workers.queue.keys",
        "webapp.intake.bulk",
        "workers.session_host.rpc",
        "webapp",
    }


def test_the_layer_of_a_module_is_its_longest_prefix():
    assert layer_of("workers.session_host.transports.neonize") == "transports"
    assert layer_of("workers.session_host.rpc") == "session_host"
    assert layer_of("webapp.intake.bulk") == "intake"
    assert layer_of("webapp.core.phone") == SHARED
    assert layer_of("webapp") == "web"
    assert layer_of("webapp.somewhere_new") is None


def test_an_import_up_the_chain_is_named():
    assert why_wrong("workers.session_host.rpc", "workers.pipeline.sending")
    assert why_wrong("webapp.core.phone", "webapp.intake.bulk")
    assert why_wrong("webapp.api.messages", "workers.session_host.transports.base")
    assert why_wrong("workers.pipeline.sending", "webapp.intake.bulk")
    assert why_wrong("webapp.api.messages", "workers.pipeline.routing") is None
    assert why_wrong("workers.session_host.host", "workers.queue.keys") is None
    assert why_wrong("workers.pipeline.actors", "webapp.intake.bulk") is None
