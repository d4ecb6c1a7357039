"""``flask --app webapp <command>``: create-api-key, create-admin, sync-sessions."""

from __future__ import annotations

import click
from flask import Flask

from webapp.services import admins, api_keys, sessions
from webapp.services.errors import KabarError


def register_cli(app: Flask) -> None:
    @app.cli.command("create-api-key")
    @click.argument("name")
    def create_api_key(name: str) -> None:
        """Create an API key called NAME; the key is printed once, on the last line."""
        key, raw = api_keys.create_api_key(name)
        click.echo(f"Created API key {key.name!r} ({key.prefix}...). Store it now; it is not kept:")
        click.echo(raw)

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="Prompted for when omitted.",
    )
    def create_admin(email: str, password: str) -> None:
        """Create an admin user who can log in to the admin pages."""
        try:
            admin = admins.create_admin(email, password)
        except KabarError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"Created admin {admin.email}")

    @app.cli.command("sync-sessions")
    def sync_sessions() -> None:
        """Tell the session hosts which sessions exist (after Redis lost its data)."""
        click.echo(f"{sessions.sync_desired()} session(s) listed for the session hosts")
