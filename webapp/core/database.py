"""Telling a database outage from a bad row, so work waits out the first and reports the second.

A restart of PostgreSQL shows as ``OperationalError``/``InterfaceError`` (connection refused,
closed, terminated), a database too slow to give its connections back as the pool's
``TimeoutError`` (every pooled connection busy past ``pool_timeout``); a row that breaks a
constraint is an ``IntegrityError`` or ``DataError`` with the database up. Callers that would
otherwise give something up for good (a session event set aside, an error answered for a saved
row) ask ``is_up`` first.
"""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db

OUTAGE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


class DatabaseDown(Exception):
    """The database could not be reached; what was being done must be tried again later."""


# A value PostgreSQL refused to store or compare (sqlalchemy.exc.DataError): the request's fault.
UNSTORABLE = (
    "a value of this request cannot be stored: a NUL character, a number out of range or text "
    "the database cannot encode"
)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (not that a row was bad)."""
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)


def is_up() -> bool:
    """Whether the database answers now (the session's failed transaction is rolled back)."""
    try:
        db.session.rollback()
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        return True
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return False
