"""Kabar's web app: ``create_app`` builds it; importing this package connects to nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask, jsonify, redirect, url_for
from werkzeug.routing import IntegerConverter

from webapp import config as kabar_config
from webapp import i18n, proxies, request_size
from webapp.extensions import csrf, db, migrate

ROOT = Path(__file__).resolve().parent.parent


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in Kabar's paths is a row id: past what PostgreSQL's ``integer`` holds it
    matches no route (404), instead of asking the database for a row it cannot have."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 - werkzeug's name
        from webapp.models import MAX_ROW_ID

        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app with the environment's configuration (``webapp.config``, read now), and
    ``config``'s Flask config keys over it: a test passes its own values, and needs not set the
    environment first."""
    values = kabar_config.read()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "webapp" / "static"),
        instance_path=str(values["INSTANCE_DIR"]),
    )
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    app.config.from_mapping(kabar_config.flask_config(values))
    if config:
        app.config.from_mapping(config)
    _configure_sqlite(app)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    proxies.install(app)  # the real client address and scheme behind KABAR_TRUSTED_PROXIES
    request_size.install(app)  # first of the request hooks: before anything reads a body
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    i18n.init_app(app)  # admin console languages (Flask-Babel) and the language switch
    app.extensions["kabar.redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"], socket_timeout=30, health_check_interval=30
    )

    from webapp import models  # noqa: F401 - registers the tables with SQLAlchemy
    from webapp.admin import bp as admin_bp
    from webapp.api import bp as api_bp
    from webapp.api.openapi import bp as api_docs_bp
    from webapp.cli import register_cli
    from webapp.compat import bp as api_compat_bp
    from webapp.compat import fonnte_bp, log_redaction
    from webapp.prometheus import register_metrics

    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_compat_bp)
    app.register_blueprint(api_compat_bp)
    csrf.exempt(fonnte_bp)
    app.register_blueprint(fonnte_bp)
    app.register_blueprint(api_docs_bp)  # /api/openapi.json and /api/docs, no key needed
    log_redaction.install()  # billing apps put API keys in URLs; request logs must not show them
    app.register_blueprint(admin_bp)
    register_cli(app)
    register_metrics(app)  # GET /metrics (Prometheus)

    @app.get("/")
    def index():
        return redirect(url_for("admin.dashboard"))

    @app.get("/healthz")
    def healthz():
        checks = {}
        try:
            db.session.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except sa.exc.SQLAlchemyError as exc:
            checks["database"] = f"error: {exc.__class__.__name__}"
        try:
            app.extensions["kabar.redis"].ping()
            checks["redis"] = "ok"
        except redis.RedisError as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return jsonify(status="ok" if healthy else "unhealthy", checks=checks), (
            200 if healthy else 503
        )

    return app


def _configure_sqlite(app: Flask) -> None:
    """SQLite is shared by the web, worker and scheduler processes: wait on locks, use WAL."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("connect_args", {"timeout": 30})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options

    @sa.event.listens_for(sa.engine.Engine, "connect")
    def _pragmas(dbapi_connection, _record):  # pragma: no cover - SQLite only
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
