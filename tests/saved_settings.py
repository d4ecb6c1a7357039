"""A fixture for tests that save operator settings: none saved before the test and none left
behind after it, so every other test (and every process an e2e test starts next) sees the
environment's defaults. Import it into a test module to use it there."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_saved_settings(app):
    """No saved setting before the test, and none left behind after it."""
    from webapp import settings
    from webapp.extensions import db
    from webapp.models import Setting

    def clear() -> None:
        with app.app_context():
            db.session.execute(db.delete(Setting))
            db.session.commit()
            settings.forget()

    clear()
    yield
    clear()
