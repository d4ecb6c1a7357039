"""The one configuration module: its table matches the README, its parsers, and app overrides.

Pure: nothing here connects to PostgreSQL or Redis (``create_app`` connects to neither).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from webapp import config

ROOT = Path(__file__).resolve().parents[2]


def _configuration_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![A-Z0-9_]){name}(?![A-Z0-9_])", text) is not None


def test_every_variable_of_the_table_is_documented_in_the_readme():
    section = _configuration_section()
    missing = [var.name for var in config.VARS.values() if not _mentions(section, var.name)]
    assert missing == []


def test_every_variable_the_readme_lists_is_in_the_table():
    declared = {var.name for var in config.VARS.values()}
    listed = set()
    for line in _configuration_section().splitlines():
        if line.startswith("| `"):
            listed.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    assert listed
    assert listed - declared == set()


def test_every_variable_is_declared_once_with_a_doc():
    names = [var.name for var in config.VARS.values()]
    assert len(names) == len(set(names))
    assert all(var.doc.strip() for var in config.VARS.values())


@pytest.mark.parametrize("word", ["1", "true", "yes", "on", "y", "TRUE", "Yes", "On", " 1 "])
def test_parse_bool_accepts_the_yes_words(word):
    assert config.parse_bool(word) is True


@pytest.mark.parametrize("word", ["0", "false", "no", "off", "n", "", "2", "enabled"])
def test_parse_bool_takes_anything_else_for_no(word):
    assert config.parse_bool(word) is False


def test_typed_parsers():
    assert config.parse_list(" BERHENTI, STOP,,") == ("BERHENTI", "STOP")
    assert config.parse_megabytes("1.5") == 1_572_864
    assert config.parse_ms("2500") == 2500
    assert config.parse_float("0.3") == 0.3


def test_defaults_and_values_read_from_a_given_environment():
    defaults = config.read({})
    assert defaults["RETENTION_MESSAGES_DAYS"] == 15
    assert defaults["SMTP_PORT"] == 587
    assert defaults["SMTP_STARTTLS"] is True
    assert defaults["WTF_CSRF_TIME_LIMIT"] == defaults["ADMIN_SESSION_MAX_S"]
    assert defaults["SESSION_STORE_DIR"] == defaults["INSTANCE_DIR"] / "sessions"
    values = config.read(
        {"SMTP_PORT": "2525", "SMTP_STARTTLS": "off", "KABAR_ADMIN_SESSION_MAX": "60"}
    )
    assert (values["SMTP_PORT"], values["SMTP_STARTTLS"]) == (2525, False)
    assert values["WTF_CSRF_TIME_LIMIT"] == 60


def test_the_rpc_secret_falls_back_to_secret_key_then_the_encryption_key():
    assert config.read({"WA_ENCRYPTION_KEY": "wa"})["CHANNEL_SECRET"] == "wa"
    assert config.read({"WA_ENCRYPTION_KEY": "wa", "SECRET_KEY": "sk"})["CHANNEL_SECRET"] == "sk"
    both = {"WA_ENCRYPTION_KEY": "wa", "SECRET_KEY": "sk", "KABAR_RPC_SECRET": "rpc"}
    assert config.read(both)["CHANNEL_SECRET"] == "rpc"
    assert config.read({"KABAR_RPC_SECRET": ""})["CHANNEL_SECRET"] == ""


def test_the_values_of_this_process_are_module_attributes():
    values = config.read()
    assert config.LEASE_MS == values["LEASE_MS"]
    assert config.REDIS_URL == values["REDIS_URL"]


def test_overrides_given_to_create_app_win(monkeypatch):
    from webapp import create_app, settings

    monkeypatch.setenv("SMTP_PORT", "2600")
    monkeypatch.setenv("KABAR_RETENTION_MESSAGES_DAYS", "7")
    app = create_app({"TESTING": True, "SMTP_PORT": 2525, "DEFAULT_REGION": "MY"})
    assert app.config["SMTP_PORT"] == 2525
    assert app.config["DEFAULT_REGION"] == "MY"
    # The environment as it is when the app is built, not when Kabar was imported.
    assert app.config["RETENTION_MESSAGES_DAYS"] == 7
    with app.app_context():
        assert settings.SPECS["smtp_port"].default() == 2525
        assert settings.SPECS["retention_messages_days"].default() == 7


def test_no_module_but_the_config_reads_the_environment():
    readers = []
    for path in sorted([*ROOT.glob("webapp/**/*.py"), *ROOT.glob("workers/**/*.py")]):
        if path == ROOT / "webapp" / "config.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                if isinstance(node.value, ast.Name) and node.value.id == "os":
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                if any(alias.name in ("environ", "getenv") for alias in node.names):
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []
