"""deploy/systemd/ runs what honcho.Procfile runs: one unit per process, the same command."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")
ASSIGNMENT = re.compile(r"^(\w+)=(\S*)$")


def procfile() -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (argv with ``${X:-d}`` written ``${X}``, the environment it sets or defaults)."""
    processes = {}
    for line in (ROOT / "honcho.Procfile").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, command = line.split(":", 1)
        env = dict(DEFAULTED.findall(command))
        words = shlex.split(DEFAULTED.sub(r"${\1}", command))
        while ASSIGNMENT.match(words[0]):
            key, value = ASSIGNMENT.match(words.pop(0)).groups()
            env[key] = value
        processes[name.strip()] = (words, env)
    return processes


def unit(path: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, by key, in order (systemd repeats keys)."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def environment(settings: dict[str, list[str]]) -> dict[str, str]:
    return dict(word.split("=", 1) for value in settings["Environment"] for word in value.split())


PROCESSES = procfile()


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_each_procfile_process_has_a_unit_running_its_command(name):
    argv, env = PROCESSES[name]
    settings = unit(UNITS / f"kabar-{name}.service")
    (exec_start,) = settings["ExecStart"]
    command = shlex.split(exec_start)
    assert command[0] == f"/opt/kabar/.venv/bin/{argv[0]}"
    assert command[1:] == argv[1:]
    assert environment(settings).items() >= env.items()
    assert settings["Restart"] == ["always"]
    assert settings["EnvironmentFile"] == ["/etc/kabar/kabar.env"]
    assert settings["User"] == ["kabar"]
    assert settings["WorkingDirectory"] == ["/opt/kabar"]
    assert settings["WantedBy"] == ["kabar.target"]


def test_every_unit_is_a_procfile_process_or_the_migrations_and_the_target_wants_them_all():
    services = {path.name for path in UNITS.glob("kabar-*.service")}
    assert services == {f"kabar-{name}.service" for name in PROCESSES} | {"kabar-migrate.service"}
    (wants,) = unit(UNITS / "kabar.target")["Wants"]
    assert set(wants.split()) == services


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_finds_nothing_to_say(tmp_path):
    """The units as installed, with this checkout and its virtualenv in place of /opt/kabar."""
    env_file = tmp_path / "environment"
    env_file.write_text("")
    for path in [*UNITS.glob("*.service"), UNITS / "kabar.target"]:
        text = path.read_text().replace("/etc/kabar/kabar.env", str(env_file))
        text = text.replace("/opt/kabar/.venv", sys.prefix).replace("/opt/kabar", str(ROOT))
        (tmp_path / path.name).write_text(text)
    units = sorted(str(path) for path in tmp_path.glob("kabar*"))
    run = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (run.returncode, run.stdout + run.stderr) == (0, "")
