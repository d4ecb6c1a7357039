"""Expansion: the ``expand_bulk`` actor writes a job's message rows batch by batch, each batch
with its ledger jobs and the job's progress in one transaction, queued after its commit."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from webapp import settings
from webapp.core import email_address, phone
from webapp.core.errors import InvalidPhoneNumber, KabarError, MessageTooLong, NotFound
from webapp.extensions import db
from webapp.intake import reachability, templates
from webapp.intake.messages import MAX_ATTEMPTS
from webapp.models import (
    BulkJob,
    WhatsAppMessage,
    WhatsAppQueueJob,
    WhatsAppTemplate,
    preassign_ids,
)
from workers.queue import broker, jobs
from workers.queue.contracts import Band, BulkStatus, MessageStatus, RpcCode

log = logging.getLogger(__name__)


BATCH = 50
MAX_ERRORS = 1_000


def _lock(bulk_id: int) -> tuple[str, int]:
    """Lock the job's row for this transaction; return its status and how far it is expanded."""
    row = db.session.execute(
        sa.select(BulkJob.status, BulkJob.expanded).where(BulkJob.id == bulk_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"no bulk send {bulk_id}", field="jobId")
    return row.status, row.expanded


def _sent_numbers(bulk_id: int) -> set[str]:
    M = WhatsAppMessage
    return set(db.session.scalars(sa.select(M.to_number).where(M.bulk_job_id == bulk_id)))


def expand(bulk_id: int) -> int:
    """Write the message rows of a pending bulk send, batch by batch; return how many.

    Stops early when the job is paused or cancelled meanwhile; a later call goes on.
    """
    status, expanded = _lock(bulk_id)
    if status not in (BulkStatus.PENDING, BulkStatus.EXPANDING):
        db.session.rollback()
        return 0
    B = BulkJob
    db.session.execute(
        sa.update(B)
        .where(B.id == bulk_id)
        .values(
            status=BulkStatus.EXPANDING, started_at=sa.func.coalesce(B.started_at, sa.func.now())
        )
    )
    job = db.session.get(BulkJob, bulk_id)
    template = db.session.get(WhatsAppTemplate, job.template_id) if job.template_id else None
    plan = _Plan(
        bulk_id=bulk_id,
        recipients=job.recipients or [],
        template_data=job.template_data or {},
        priority=job.priority,
        routing=job.routing,
        errors=list(job.errors or []),
        region=current_app.config["DEFAULT_REGION"],
        limit=current_app.config["MAX_MESSAGE_LENGTH"],
        check_numbers=settings.get("check_on_whatsapp"),
    )
    if template is None:
        db.session.execute(
            sa.update(B)
            .where(B.id == bulk_id)
            .values(
                status=BulkStatus.CANCELLED,
                finished_at=sa.func.now(),
                errors=plan.errors
                + [{"code": "unknown_template", "message": "the template was deleted"}],
            )
        )
        db.session.commit()
        return 0
    db.session.expunge(template)  # a snapshot: commits below must not reload it
    plan.template = template
    seen = _sent_numbers(bulk_id) if expanded else set()
    db.session.commit()

    written = 0
    # Jobs reach Redis from a second thread while the next batch is written: the two waits
    # (PostgreSQL, Redis) overlap. Each batch's jobs still go only after its commit.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-enqueue") as enqueuer:
        sent_off = []
        while True:
            # Asked before the job's row is locked, so a pause or cancel never waits for it.
            plan.ask_whatsapp(plan.recipients[expanded : expanded + BATCH])
            status, done = _lock(bulk_id)
            if status != BulkStatus.EXPANDING:
                db.session.rollback()
                break
            if done != expanded:  # another expansion ran meanwhile: trust the rows, not memory
                seen = _sent_numbers(bulk_id)
            expanded = done
            if expanded >= len(plan.recipients):
                db.session.execute(
                    sa.update(B).where(B.id == bulk_id).values(status=BulkStatus.RUNNING)
                )
                db.session.commit()
                break
            batch = plan.recipients[expanded : expanded + BATCH]
            rows, invalid, duplicates, new_errors = plan.rows(expanded, batch, seen)
            db.session.add_all(rows)
            preassign_ids(rows)
            queued = jobs.new_jobs(rows, MAX_ATTEMPTS)
            preassign_ids([o for o in db.session.new if isinstance(o, WhatsAppQueueJob)])
            values: dict[str, Any] = {
                "expanded": expanded + len(batch),
                "invalid_count": B.invalid_count + invalid,
                "duplicate_count": B.duplicate_count + duplicates,
            }
            if new_errors and len(plan.errors) < MAX_ERRORS:
                plan.errors += new_errors[: MAX_ERRORS - len(plan.errors)]
                values["errors"] = plan.errors
            db.session.execute(sa.update(B).where(B.id == bulk_id).values(**values))
            db.session.commit()
            sent_off.append(enqueuer.submit(_enqueue, queued))
            written += len(rows)
            expanded += len(batch)
    for future in sent_off:
        future.result()  # a Redis error fails the actor; the reconciler re-queues the rows
    log.info("bulk send %s: %d messages queued", bulk_id, written)
    return written


def _enqueue(queued: list) -> None:
    for job in queued:
        broker.enqueue_job(job)


@dataclass
class _Plan:
    """What expanding a job needs, read once."""

    bulk_id: int
    recipients: list[dict[str, Any]]
    template_data: dict[str, Any]
    priority: int
    routing: str | None
    errors: list[dict[str, Any]]
    region: str
    limit: int
    check_numbers: bool = False
    template: WhatsAppTemplate | None = None
    asked: reachability.Reachability | None = None  # of the batch about to be written

    def ask_whatsapp(self, batch: list[Any]) -> None:
        """Ask which of ``batch``'s numbers have WhatsApp (for ``rows`` to use)."""
        if not self.check_numbers:
            return
        numbers = []
        for recipient in batch:
            raw = recipient.get("whatsapp") if isinstance(recipient, dict) else None
            try:
                numbers.append(phone.normalize(raw, self.region, field="whatsapp").phone)
            except KabarError:
                continue  # rows() reports it
        self.asked = reachability.check(numbers)

    def rows(
        self, start: int, batch: list[Any], seen: set[str]
    ) -> tuple[list[WhatsAppMessage], int, int, list[dict[str, Any]]]:
        """The message rows of ``batch`` (recipients ``start``...), and what was refused."""
        rows, errors, invalid, duplicates = [], [], 0, 0
        for index, recipient in enumerate(batch, start):
            raw = recipient.get("whatsapp") if isinstance(recipient, dict) else None
            try:
                row = self._row(recipient, raw, seen)
            except KabarError as exc:
                duplicate = exc.code == "duplicate"
                duplicates += duplicate
                invalid += not duplicate
                errors.append(_refused(index, raw, exc))
                continue
            seen.add(row.to_number)
            rows.append(row)
        if self.check_numbers and rows:
            rows, unreachable = self._on_whatsapp(start, batch, rows, {e["index"] for e in errors})
            invalid += len(unreachable)
            errors += unreachable
        return rows, invalid, duplicates, errors

    def _on_whatsapp(
        self, start: int, batch: list[Any], rows: list[WhatsAppMessage], refused: set[int]
    ) -> tuple[list[WhatsAppMessage], list[dict[str, Any]]]:
        """Drop the rows whose number is not on WhatsApp, with an error for each.

        ``rows`` are the batch's recipients in order, less the ``refused`` indexes. Runs while
        the job's row is locked, so no session host is asked here (that may take an RPC's
        timeout, and ends the transaction, lock and all): numbers ``ask_whatsapp`` did not
        cover (another expansion moved the batch meanwhile) are looked up in the cache alone,
        and sent unchecked when it has no answer.
        """
        numbers = {row.to_number for row in rows}
        asked = self.asked or reachability.Reachability(set(), set(), set())
        uncovered = numbers - asked.on - asked.off - asked.unknown
        off = asked.off | reachability.cached(uncovered).off
        if not off:
            return rows, []
        indexes = [i for i in range(start, start + len(batch)) if i not in refused]
        kept, errors = [], []
        for index, row in zip(indexes, rows, strict=True):
            if row.to_number in off:
                reason = f"{row.to_number} is not on WhatsApp; not sent"
                refusal = _NotOnWhatsApp(reason, field="whatsapp")
                errors.append(_refused(index, batch[index - start]["whatsapp"], refusal))
            else:
                kept.append(row)
        return kept, errors

    def _row(self, recipient: Any, raw: Any, seen: set[str]) -> WhatsAppMessage:
        if not isinstance(recipient, dict):
            raise KabarError("a recipient is an object {whatsapp, data, email?}")
        if raw is None or raw == "":
            raise KabarError("whatsapp (the recipient's number) is required", field="whatsapp")
        number = phone.normalize(raw, self.region, field="whatsapp").phone
        if number in seen:
            raise _Duplicate(f"{number} is already in this bulk send; sent once")
        data = recipient.get("data") or {}
        if not isinstance(data, dict):
            raise KabarError("data is an object of variables", field="data")
        rendered = templates.render_message(self.template, {**self.template_data, **data})
        if len(rendered.text) > self.limit:
            raise MessageTooLong(
                f"the message has {len(rendered.text)} characters; WhatsApp allows {self.limit}",
                field="data",
            )
        email = email_address.recipient_address(recipient.get("email"), "email")
        return WhatsAppMessage(
            to_number=number,
            template_id=self.template.id,
            message_type=self.template.type,
            content=rendered.text,
            **(
                rendered.media.columns()
                if rendered.media
                else {"media_url": rendered.media_url, "render_mode": rendered.render_mode}
            ),
            email=email,
            status=MessageStatus.QUEUED,
            priority=self.priority,
            band=Band.BULK,
            routing=self.routing,
            bulk_job_id=self.bulk_id,
        )


class _Duplicate(KabarError):
    code = "duplicate"


class _NotOnWhatsApp(KabarError):
    code = RpcCode.NOT_ON_WHATSAPP


def _refused(index: int, raw: Any, exc: KabarError) -> dict[str, Any]:
    """A recipient that gets no message, as the job's ``errors`` list it."""
    return {
        "index": index,
        "whatsapp": raw if isinstance(raw, str | int) else None,
        "code": exc.code,
        "field": f"recipients.{index}" + (f".{exc.field}" if exc.field else ""),
        "message": exc.message,
        **({"reason": exc.reason} if isinstance(exc, InvalidPhoneNumber) else {}),
    }
