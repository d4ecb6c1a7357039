"""A fixture that gives back the templates and triggers a test changed.

The shared ``clean_state`` truncates messages and jobs but keeps ``whatsapp_templates`` and
``triggers`` (migrations seed them). Tests that edit, add or delete either use ``catalogue``.
"""

from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import BulkJob, Trigger, TriggerEvent, WhatsAppMessage, WhatsAppTemplate

TEMPLATE_COLUMNS = (
    "id",
    "name",
    "category",
    "type",
    "content",
    "variables",
    "language",
    "is_active",
    "extra",
    "created_by",
)
TRIGGER_COLUMNS = (
    "id",
    "event",
    "template_id",
    "enabled",
    "priority",
    "fire_count",
    "failure_count",
    "last_fired_at",
    "last_error",
)


def _snapshot(model, columns):
    return {
        row.id: {name: getattr(row, name) for name in columns}
        for row in db.session.scalars(db.select(model))
    }


@pytest.fixture
def catalogue(app):
    with app.app_context():
        templates = _snapshot(WhatsAppTemplate, TEMPLATE_COLUMNS)
        triggers = _snapshot(Trigger, TRIGGER_COLUMNS)
        db.session.rollback()
    yield
    with app.app_context():
        db.session.rollback()
        for model in (WhatsAppMessage, BulkJob):
            db.session.execute(db.update(model).values(template_id=None))
        db.session.execute(db.update(TriggerEvent).values(trigger_id=None))
        db.session.execute(db.delete(Trigger).where(Trigger.id.not_in(list(triggers))))
        db.session.execute(db.update(Trigger).values(template_id=None))
        db.session.execute(
            db.delete(WhatsAppTemplate).where(WhatsAppTemplate.id.not_in(list(templates)))
        )
        for model, saved in ((WhatsAppTemplate, templates), (Trigger, triggers)):
            present = set(db.session.scalars(db.select(model.id)))
            for row_id, values in saved.items():
                if row_id in present:
                    db.session.execute(db.update(model).where(model.id == row_id).values(**values))
                else:
                    db.session.add(model(**values))
            db.session.flush()
        db.session.commit()
