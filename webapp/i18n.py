"""The admin console's languages: Indonesian by default (``KABAR_LANGUAGE``), English on request.

Source strings are English, wrapped in ``_()``; ``webapp/translations/<code>/LC_MESSAGES/
messages.po`` translates them and ``scripts/setup.sh`` compiles it to ``messages.mo``. A missing
``.mo`` is not an error: Flask-Babel then shows the English source strings. After changing
strings, refresh the catalogue:

    .venv/bin/pybabel extract -F babel.cfg -k lazy_gettext -k _l -o /tmp/kabar.pot .
    .venv/bin/pybabel update -i /tmp/kabar.pot -d webapp/translations
    .venv/bin/pybabel compile -d webapp/translations

The operator's choice lives in the session cookie, so it follows them from page to page (and
to the login page) without an account setting. The JSON API is for programs: its messages are
English unless a request's ``Accept-Language`` asks for Indonesian; its codes never change.

Statuses and bands are shown with ``webapp.labels`` (filters ``status`` and ``band``), and the
English sentences of services and workers with ``webapp.phrases`` (filters ``say`` and
``reason``, the latter with the technical detail behind a "detail" toggle).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from flask import Blueprint, Flask, flash, has_request_context, redirect, request, session, url_for
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from webapp import labels, phrases

log = logging.getLogger(__name__)

LANGUAGES = {"id": "Bahasa Indonesia", "en": "English"}
FALLBACK = "id"
API_LANGUAGE = "en"  # of the JSON API's messages, unless Accept-Language asks for another
# Paths of programs, not of the console: the JSON API and the billing apps' dialects (MPWA,
# Fonnte's /send).
_API_PATHS = ("/api/", "/send", "/check-number", "/info-devices")
SESSION_KEY = "language"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# A path on this site: one slash, then no second slash or backslash (which browsers read as
# "another host"), and no whitespace or control characters (which browsers strip).
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\s\\\x00-\x1f\x7f]*")

bp = Blueprint("i18n", __name__, url_prefix="/admin")


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with the session's choice, the switch's route and what base.html reads."""
    if app.config.get("BABEL_DEFAULT_LOCALE") not in LANGUAGES:
        log.warning(
            "KABAR_LANGUAGE=%r is not one of %s; using %r",
            app.config.get("BABEL_DEFAULT_LOCALE"),
            ", ".join(LANGUAGES),
            FALLBACK,
        )
        app.config["BABEL_DEFAULT_LOCALE"] = FALLBACK
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    # One Babel per app: its catalogue cache then belongs to this app and its directories.
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    app.context_processor(_language_context)
    app.add_template_filter(labels.status, "status")
    app.add_template_filter(labels.band, "band")
    app.add_template_filter(phrases.say, "say")
    app.add_template_filter(reason, "reason")


def select_locale() -> str | None:
    """The language chosen in this session; None lets Flask-Babel use the configured default.

    A call of the API gets the language its Accept-Language prefers, English by default; work
    outside a request (workers) is in English, the language of what they store."""
    if not has_request_context():
        return API_LANGUAGE
    if is_api_request():
        return request.accept_languages.best_match(LANGUAGES, default=API_LANGUAGE)
    choice = session.get(SESSION_KEY)
    return choice if choice in LANGUAGES else None


def is_api_request() -> bool:
    return request.path.startswith(_API_PATHS)


def for_programs(text: str) -> str:
    """A service's English message as an API answer gives it: unchanged in English, else in
    the language the request's Accept-Language asked for."""
    if str(get_locale()) == API_LANGUAGE:
        return text
    return phrases.say(text)


def reason(text: str | None) -> Markup:
    """A stored failure reason in the operator's language; its technical detail (a Go error,
    an SMTP answer) behind a "detail" toggle."""
    explained = phrases.explain(text)
    if explained is None:
        return Markup("")
    shown = Markup('<span class="reason">{}</span>').format(explained.summary)
    if not explained.details:
        return shown
    return shown + Markup(
        ' <details class="detail"><summary>{}</summary><code>{}</code></details>'
    ).format(_("detail"), "\n".join(explained.details))


def _language_context() -> dict:
    return {"languages": LANGUAGES, "current_language": str(get_locale())}


def clear_session() -> None:
    """Empty the session (log in, log out) but keep the language picked: the operator who chose
    English on the login page stays in English once logged in."""
    choice = session.get(SESSION_KEY)
    session.clear()
    if choice in LANGUAGES:
        session[SESSION_KEY] = choice


def local_path(target: str) -> str:
    """``target`` if it is a path on this site, else the dashboard: the switch sends no one
    to another site, whatever a crafted form puts in ``next``."""
    if _LOCAL_PATH.fullmatch(target):
        return target
    return url_for("admin.dashboard")


@bp.post("/language")
def switch_language():
    """Remember the language picked in the header and go back to the page it was picked on."""
    choice = request.form.get("language", "")
    if choice in LANGUAGES:
        session[SESSION_KEY] = choice
    else:
        flash(
            _(
                "Unknown language. Choose one of: %(choices)s.",
                choices=", ".join(LANGUAGES.values()),
            ),
            "error",
        )
    return redirect(local_path(request.form.get("next", "")))
