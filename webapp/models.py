"""The tables. The seed's four keep their names and columns; Kabar adds what it needs.

Models know nothing of HTTP or queues. Timestamps are stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.credentials import session_credentials as credentials_table
from webapp.extensions import db
from workers.queue.contracts import Band, BulkStatus, JobStatus, MessageStatus, SessionState

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class AdminUser(db.Model):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Part of every admin cookie; raised by a logout or a password change, which so ends every
    # cookie issued before (a cookie is signed, not stored: this is what revokes it).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")


class ApiKey(db.Model):
    """An API key. Only its SHA-256 is stored: keys are 256-bit random, so a slow hash adds
    nothing, and a fast one lets every request find its key by an index lookup."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # How the key was last presented: "api" (Bearer header) or "mpwa" (api_key parameter).
    last_used_via: Mapped[str | None] = mapped_column(sa.String(20))
    # When the key was last given as MPWA's api_key (in a billing app's URL), kept even when a
    # later call used the Bearer header: a key that ever travelled in a URL should not be admin.
    mpwa_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # What the key may do, space-separated and sorted: "admin read send" (see
    # webapp.intake.api_keys).
    scopes: Mapped[str] = mapped_column(sa.String(50), default="send")
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    @property
    def admin_via_mpwa(self) -> bool:
        """An admin key that was given in a billing app's URL, where logs and browsers keep it."""
        return "admin" in self.scope_set and self.mpwa_used_at is not None


class WhatsAppSession(db.Model):
    __tablename__ = "whatsapp_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    device_id: Mapped[str] = mapped_column(sa.String(100))
    phone_number: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20), default=SessionState.DISCONNECTED)
    is_primary: Mapped[bool] = mapped_column(default=False)
    priority: Mapped[int] = mapped_column(default=999)
    message_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    last_activity: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # Added by Kabar.
    transport: Mapped[str] = mapped_column(sa.String(20), default="neonize")
    qr_code: Mapped[str | None] = mapped_column(sa.Text)
    qr_expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # Time of the newest state event applied, so events folded out of order cannot regress it.
    status_changed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    ban_expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Pacing: never two sends closer than interval_ms plus a random 0..jitter_ms.
    interval_ms: Mapped[int] = mapped_column(default=1000, server_default="1000")
    jitter_ms: Mapped[int] = mapped_column(default=200, server_default="200")
    daily_cap: Mapped[int | None] = mapped_column()
    # Warm-up of a newly linked number: from this moment the setting ``warmup_schedule`` caps
    # its sends per day (day 1, day 2, ...); None means the number is not warming up.
    warmup_started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # When the operator ended it: a pairing seen later (or the same one folded again) does not
    # start it again by itself.
    warmup_ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Chosen when the session was added ("a new number? warm it up for 7 days"): the warm-up
    # starts when a number is first linked to it. An existing number is not throttled.
    warmup_on_link: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class WhatsAppTemplate(db.Model):
    __tablename__ = "whatsapp_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    category: Mapped[str | None] = mapped_column(sa.String(50))
    type: Mapped[str] = mapped_column(sa.String(20), default="text")
    content: Mapped[str] = mapped_column(sa.Text)
    variables: Mapped[list | None] = mapped_column(JSONType)
    language: Mapped[str] = mapped_column(sa.String(5), default="id")
    is_active: Mapped[bool] = mapped_column(default=True)
    # Type-specific parts: media_url for media, buttons / sections / footer for button and list.
    extra: Mapped[dict | None] = mapped_column(JSONType)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


# Receipts may overtake the worker's own update; a status only ever moves forward in this order.
STATUS_RANK = {
    "pending": 0,
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
    MessageStatus.FAILED: 4,
}


class WhatsAppMessage(db.Model):
    __tablename__ = "whatsapp_messages"
    __table_args__ = (
        # The reconciler's scan of rows stuck in a status.
        sa.Index("ix_whatsapp_messages_status_created", "status", "created_at"),
        # A day's messages (the dashboard, /metrics' last 24 hours), and the ids the log's
        # dates bound.
        sa.Index("ix_whatsapp_messages_created_at", "created_at", "id"),
        # A bulk send's messages in log order, and its progress, from the index alone.
        sa.Index("ix_whatsapp_messages_bulk", "bulk_job_id", "id", postgresql_include=["status"]),
        # PostgreSQL only (migration 0017): see ``workers.pipeline.metrics.changed_since``
        # and ``webapp.intake.reports.number_matches``.
        sa.Index(
            "ix_whatsapp_messages_last_step",
            sa.func.greatest(
                sa.column("created_at"),
                sa.column("sent_at"),
                sa.column("delivered_at"),
                sa.column("read_at"),
            ),
        ).ddl_if(dialect="postgresql"),
        sa.Index(
            "ix_whatsapp_messages_number_reversed",
            sa.func.reverse(sa.column("to_number")),
            postgresql_ops={"reverse": "text_pattern_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str | None] = mapped_column(
        sa.String(100), sa.ForeignKey("whatsapp_sessions.session_id", ondelete="SET NULL")
    )
    message_id: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    to_number: Mapped[str] = mapped_column(sa.String(20))
    template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("whatsapp_templates.id"))
    message_type: Mapped[str] = mapped_column(sa.String(20), default="text")
    content: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default=MessageStatus.QUEUED)
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    retry_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    # Added by Kabar.
    priority: Mapped[int] = mapped_column(default=1)
    band: Mapped[str] = mapped_column(
        sa.String(10), default=Band.URGENT, server_default=Band.URGENT.value
    )
    routing: Mapped[str | None] = mapped_column(sa.String(10))
    pinned_session_id: Mapped[str | None] = mapped_column(sa.String(100))
    bulk_job_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("bulk_jobs.id", ondelete="SET NULL")
    )
    email: Mapped[str | None] = mapped_column(sa.String(255))
    media_url: Mapped[str | None] = mapped_column(sa.Text)
    # "media" when the message goes out as an image or a document (``content`` is its
    # caption); "text" when a button or list template went out as text.
    render_mode: Mapped[str | None] = mapped_column(sa.String(20))
    # The attachment: image | document, its bytes (a MediaFile, once given or fetched from
    # ``media_url``), and the file name and type the sender gave.
    media_type: Mapped[str | None] = mapped_column(sa.String(20))
    media_sha256: Mapped[str | None] = mapped_column(
        sa.String(64),
        sa.ForeignKey("media_files.sha256", name="fk_whatsapp_messages_media_sha256"),
        index=True,
    )
    media_file_name: Mapped[str | None] = mapped_column(sa.String(255))
    media_mimetype: Mapped[str | None] = mapped_column(sa.String(100))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    # The queue job that sends the row now (a bulk job sends a batch of rows): the reconciler
    # asks Redis whether it is still alive.
    job_id: Mapped[str | None] = mapped_column(sa.String(100))
    # When a worker last handed the row to a session host, and the run id of the Redis that then
    # held the host's sent records: what keeps "sent at most once" when Redis loses them.
    handed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    handed_redis: Mapped[str | None] = mapped_column(sa.String(40))
    # Since when it waits for a number able to send (an outage, every number resting).
    waiting_since: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # A queued message that may not go out yet: why (a code, e.g. "daily_cap", "warmup",
    # "quiet_hours", "no_number") and until when at the earliest; None once it is sent.
    held_reason: Mapped[str | None] = mapped_column(sa.String(30))
    held_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # How a failed message reached the customer another way: method ("email"), result
    # ("sent", "no_address", "error: ...") and when.
    fallback_method: Mapped[str | None] = mapped_column(sa.String(20))
    fallback_result: Mapped[str | None] = mapped_column(sa.Text)
    fallback_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class MediaFile(db.Model):
    """The bytes of an image or document messages carry, stored once however many messages
    refer to them; kept in PostgreSQL so a queued attachment survives a Redis crash."""

    __tablename__ = "media_files"

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    mimetype: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column()
    # When a message last came to refer to it: retention only deletes files unused for a while,
    # so a message being written meanwhile never loses its file.
    used_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Trigger(db.Model):
    """A billing event mapped to a template (or, for bulk.send, to a bulk send)."""

    __tablename__ = "triggers"

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(sa.String(100), unique=True)
    template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("whatsapp_templates.id"))
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    priority: Mapped[int] = mapped_column(default=1, server_default="1")
    fire_count: Mapped[int] = mapped_column(default=0, server_default="0")
    failure_count: Mapped[int] = mapped_column(default=0, server_default="0")
    last_fired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class TriggerEvent(db.Model):
    """One event the billing system sent: what it became, or why it failed. (event, event_id)
    is unique, so a retried event is recognised and sends nothing twice."""

    __tablename__ = "trigger_events"
    __table_args__ = (sa.UniqueConstraint("event", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(sa.String(100))
    event_id: Mapped[str] = mapped_column(sa.String(200))
    trigger_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("triggers.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(sa.String(20))  # queued | skipped | failed
    error: Mapped[str | None] = mapped_column(sa.Text)
    # Indexed: deleting a message looks up its event to set this to NULL.
    message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("whatsapp_messages.id", ondelete="SET NULL"), index=True
    )
    bulk_job_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("bulk_jobs.id", ondelete="SET NULL")
    )
    payload: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class BulkJob(db.Model):
    """A bulk send: accepted at once, expanded into message rows by an actor in batches."""

    __tablename__ = "bulk_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("whatsapp_templates.id"))
    template_data: Mapped[dict | None] = mapped_column(JSONType)
    recipients: Mapped[list | None] = mapped_column(JSONType)
    # pending | scheduled | expanding | running | paused | cancelled | completed
    status: Mapped[str] = mapped_column(sa.String(20), default=BulkStatus.PENDING)
    priority: Mapped[int] = mapped_column(default=1)
    routing: Mapped[str | None] = mapped_column(sa.String(10))
    total: Mapped[int] = mapped_column(default=0)
    expanded: Mapped[int] = mapped_column(default=0)
    invalid_count: Mapped[int] = mapped_column(default=0)
    duplicate_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list | None] = mapped_column(JSONType)
    schedule_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Contact(db.Model):
    """A customer's WhatsApp number as Kabar knows it: push name, LID, opt-out, e-mail."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(20), unique=True)
    lid: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    push_name: Mapped[str | None] = mapped_column(sa.String(255))
    email: Mapped[str | None] = mapped_column(sa.String(255))
    session_id: Mapped[str | None] = mapped_column(sa.String(100))
    opted_out: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    opted_out_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class IncomingMessage(db.Model):
    """A message a customer sent to one of the linked numbers."""

    __tablename__ = "incoming_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    from_phone: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    from_jid: Mapped[str | None] = mapped_column(sa.String(100))
    wa_message_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    text: Mapped[str | None] = mapped_column(sa.Text)
    # image | video | document | audio | sticker when the message carried media (``text`` is
    # then its caption, maybe empty: a payment screenshot sent alone); None for plain text.
    media_type: Mapped[str | None] = mapped_column(sa.String(20))
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class WhatsAppQueueJob(db.Model):
    """The durable ledger of queue jobs: one row per Dramatiq message that sends a row."""

    __tablename__ = "whatsapp_queue_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Added by Kabar: the whatsapp_messages row the job sends.
    message_row_id: Mapped[int | None] = mapped_column(index=True)
    job_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    queue_name: Mapped[str | None] = mapped_column(sa.String(50))
    job_data: Mapped[dict | None] = mapped_column(JSONType)
    priority: Mapped[int] = mapped_column(default=10)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    status: Mapped[str] = mapped_column(sa.String(20), default=JobStatus.PENDING)
    scheduled_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


def preassign_ids(rows: list) -> None:
    """Give new rows (all of one table) their ids from its sequence before they are inserted.

    With the ids known, PostgreSQL takes the rows as one pipelined executemany of a short
    statement, instead of a long multi-row INSERT ... RETURNING whose parsing costs more than
    the insert. Elsewhere (SQLite) the rows are flushed, and the database numbers them.
    """
    if not rows:
        return
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.flush()
        return
    table = type(rows[0]).__table__.name
    with db.session.no_autoflush:
        ids = db.session.scalars(
            sa.text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table, "n": len(rows)},
        ).all()
    for row, row_id in zip(rows, ids, strict=True):
        row.id = row_id


# The largest id an ``id`` column (PostgreSQL's integer) holds.
MAX_ROW_ID = 2**31 - 1


def row_id(value: int | str) -> int | None:
    """``value`` (a path segment, a body field) as a row id, or None when no row can have it:
    not plain digits, 0, or past the column's range (looking that up is a database error)."""
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ROW_ID else None


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC, so say so."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a Z, as the API speaks it."""
    value = as_utc(value)
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Webhook(db.Model):
    """An operator's URL told of message status changes and incoming messages.

    The secret signs every delivery (HMAC-SHA256), so it is kept as given, and shown only once,
    when the webhook is created. The last delivery's result is kept for the operator to see.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.Text)
    events: Mapped[list] = mapped_column(JSONType)
    secret: Mapped[str] = mapped_column(sa.String(100))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    delivery_count: Mapped[int] = mapped_column(default=0, server_default="0")
    failure_count: Mapped[int] = mapped_column(default=0, server_default="0")
    last_event: Mapped[str | None] = mapped_column(sa.String(50))
    last_status_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Setting(db.Model):
    """One operator setting changed from the admin console (see ``webapp.settings``).

    A name with no row takes its default from the environment (``webapp.config``).
    """

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSONType, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class OutboxEntry(db.Model):
    """A job to queue, written in the transaction of the change that causes it, so the job
    exists exactly when the change does (see ``workers.queue.outbox``).

    Rows live from their commit until Redis has the job: normally a moment, longer while Redis
    is unreachable, when ``attempts`` and ``last_error`` tell the operator why.
    """

    __tablename__ = "outbox"

    # 64-bit: every webhook notice passes through here, so the ids run faster than messages'.
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    queue_name: Mapped[str] = mapped_column(sa.String(50))
    args: Mapped[list] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class MetricsDaily(db.Model):
    """One day's figures (the operator's calendar day), rolled up from the messages while they
    exist, so the metrics of a day outlive the messages that retention deletes."""

    __tablename__ = "metrics_daily"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    sent: Mapped[int] = mapped_column()
    delivered: Mapped[int] = mapped_column()
    read: Mapped[int] = mapped_column()
    errors: Mapped[int] = mapped_column()
    average_delivery_s: Mapped[float | None] = mapped_column(sa.Float)
    rolled_up_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


# Each number's encrypted credentials: written and read by the session hosts' client processes
# (``webapp.core.credentials``, which defines the table), listed here so the app's metadata and the
# migrations describe the same schema.
session_credentials = credentials_table.to_metadata(db.metadata)
