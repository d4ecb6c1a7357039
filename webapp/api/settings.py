"""/api/settings: the operator settings the admin page edits, for scripts and provisioning.

GET shows every setting (a secret only as ``{"set": true|false}``) and whether it is saved or
the environment's default. PATCH changes some: all or nothing, a bad value is refused with 422
naming its field, ``null`` resets a setting to its default and an empty secret keeps the stored
one.
"""

from __future__ import annotations

from flask import jsonify, request

from webapp import settings
from webapp.api import bp
from webapp.api.schemas import json_body
from webapp.core.errors import KabarError
from workers.pipeline import sessions


def settings_json() -> dict:
    return {
        "settings": {name: settings.shown(name) for name in settings.SPECS},
        "sources": {
            name: "saved" if settings.is_saved(name) else "default" for name in settings.SPECS
        },
    }


@bp.get("/settings")
def get_settings():
    return jsonify(settings_json())


@bp.patch("/settings")
def patch_settings():
    changes = json_body() if request.is_json else None
    if not isinstance(changes, dict) or not changes:
        raise KabarError(
            'send a JSON object of settings to change, such as {"retention_messages_days": 30}',
            field="body",
        )
    sessions.settings_changed(settings.save(changes))
    return jsonify(settings_json())
