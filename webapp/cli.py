"""``flask --app webapp <command>``: create-api-key, create-admin, set-admin-password,
sync-sessions, doctor."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from webapp.core.errors import KabarError
from webapp.intake import admins, api_keys, doctor
from workers.pipeline import sessions

# An admin's password: prompted for (twice, hidden) when not given.
password_option = click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when omitted.",
)


def register_cli(app: Flask) -> None:
    @app.cli.command("create-api-key")
    @click.argument("name")
    @click.option(
        "--scope",
        "scopes",
        multiple=True,
        type=click.Choice(api_keys.SCOPES),
        default=api_keys.DEFAULT_SCOPES,
        show_default=True,
        help="What the key may do; repeat for several (send: send and status; read: lists "
        "and metrics; admin: sessions, templates, triggers, webhooks, settings).",
    )
    def create_api_key(name: str, scopes: tuple[str, ...]) -> None:
        """Create an API key called NAME; the key is printed once, on the last line."""
        key, raw = api_keys.create_api_key(name, scopes)
        click.echo(
            f"Created API key {key.name!r} ({key.prefix}..., scopes: {key.scopes}). "
            "Store it now; it is not kept:"
        )
        click.echo(raw)

    @app.cli.command("create-admin")
    @click.argument("email")
    @password_option
    def create_admin(email: str, password: str) -> None:
        """Create an admin user who can log in to the admin pages."""
        try:
            admin = admins.create_admin(email, password)
        except KabarError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"Created admin {admin.email}")

    @app.cli.command("set-admin-password")
    @click.argument("email")
    @password_option
    def set_admin_password(email: str, password: str) -> None:
        """Give an admin a new password; every page they had open must log in again."""
        try:
            admin = admins.set_password(email, password)
        except KabarError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"New password set for {admin.email}; its earlier logins are ended")

    @app.cli.command("sync-sessions")
    def sync_sessions() -> None:
        """Tell the session hosts which sessions exist (after Redis lost its data)."""
        click.echo(f"{sessions.sync_desired()} session(s) listed for the session hosts")

    @app.cli.command("doctor")
    @click.option(
        "--timeout",
        type=click.FloatRange(min=0.1, max=60),
        default=doctor.TIMEOUT_S,
        show_default=True,
        help="Seconds each network check may take.",
    )
    def run_doctor(timeout: float) -> None:
        """Check what a number needs to link: WhatsApp reach, clock, libraries, key, Redis, DB.

        One line per check, in KABAR_LANGUAGE (Indonesian unless "en"); exits 1 when something
        essential fails.
        """
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            findings = doctor.examine(current_app.config, timeout)
            labels = {doctor.OK: _("ok"), doctor.WARN: _("warning"), doctor.FAIL: _("FAILED")}
            for finding in findings:
                click.echo(f"[{labels[finding.level]}] {finding.check}: {finding.text}")
            if doctor.failed(findings):
                click.echo(_("Something essential failed: fix the lines marked above first."))
        if doctor.failed(findings):
            raise SystemExit(1)
