"""Bulk sends without worker processes: the expansion is called here, as the actor calls it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.core.errors import Conflict, KabarError, TemplateNotFound
from webapp.extensions import db
from webapp.intake import bulk
from webapp.models import BulkJob, WhatsAppMessage, WhatsAppQueueJob
from workers.pipeline import sending

BULK_QUEUE = "dramatiq:bulk.msgs"
EXPANSIONS = "dramatiq:maintenance.msgs"
VOUCHER = {"duration": "30 hari", "expiry_time": "31-12-2026"}


def phone(n: int) -> str:
    return f"0812{n:08d}"


def recipients(count: int, start: int = 0) -> list[dict]:
    return [
        {"whatsapp": phone(start + n), "data": {"voucher_code": f"V{start + n}"}}
        for n in range(count)
    ]


def submit(recipients, **options):
    raw = {"recipients": recipients, "template": "voucher_activated", "templateData": VOUCHER}
    return bulk.submit(bulk.parse_request(raw | options))


def rows(job):
    M = WhatsAppMessage
    return list(db.session.scalars(db.select(M).where(M.bulk_job_id == job.id).order_by(M.id)))


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.mark.usefixtures("ctx")
class TestExpansion:
    def test_submit_stores_the_job_and_queues_its_expansion(self, redis_client):
        job = submit(recipients(3))
        assert job.status == "pending" and job.total == 3 and job.job_id.startswith("bulk-")
        assert redis_client.hlen(EXPANSIONS) == 1
        assert rows(job) == []

    def test_expansion_writes_a_row_per_recipient_and_a_ledger_job_per_batch(self, redis_client):
        job = submit(recipients(120), priority=4, routing="failover")
        assert bulk.expand(job.id) == 120
        db.session.refresh(job)
        assert job.status == "running" and job.expanded == 120 and job.started_at
        written = rows(job)
        assert len(written) == 120 and {r.band for r in written} == {"bulk"}
        assert {r.priority for r in written} == {4} and {r.routing for r in written} == {"failover"}
        assert "🔑 Kode: V7" in written[7].content and "30 hari" in written[7].content
        ledger = db.session.scalars(
            db.select(WhatsAppQueueJob).where(
                WhatsAppQueueJob.job_id.in_({r.job_id for r in written})
            )
        ).all()
        assert len(ledger) == 3  # batches of 50, 50 and 20 rows
        batched = sorted(i for job in ledger for i in job.job_data["message_ids"])
        assert batched == sorted(r.id for r in written)
        assert redis_client.hlen(BULK_QUEUE) == 3

    def test_recipient_data_wins_over_template_data(self):
        job = submit([{"whatsapp": phone(1), "data": {"voucher_code": "X", "duration": "7 hari"}}])
        bulk.expand(job.id)
        (row,) = rows(job)
        assert "⏰ Masa Aktif: 7 hari" in row.content and "31-12-2026" in row.content

    def test_a_number_given_twice_is_sent_once(self):
        same = [
            {"whatsapp": "081200000001", "data": {"voucher_code": "A"}},
            {"whatsapp": "+62 812-0000-0001", "data": {"voucher_code": "B"}},
            {"whatsapp": "6281200000001", "data": {"voucher_code": "C"}},
        ]
        job = submit(same)
        bulk.expand(job.id)
        db.session.refresh(job)
        (row,) = rows(job)
        assert "Kode: A" in row.content
        assert job.duplicate_count == 2 and job.invalid_count == 0
        assert [e["code"] for e in job.errors] == ["duplicate", "duplicate"]

    def test_bad_recipients_are_reported_and_the_others_sent(self):
        mixed = [
            {"whatsapp": phone(1), "data": {"voucher_code": "A"}},
            {"whatsapp": "0812", "data": {"voucher_code": "B"}},
            {"whatsapp": phone(3), "data": {}},  # voucher_code missing
            {"data": {"voucher_code": "D"}},  # no number
            {"whatsapp": phone(5), "data": "not an object"},
            {"whatsapp": phone(6), "data": {"voucher_code": "F"}, "email": "f@example.com"},
            # A number whose first entry failed is not a duplicate the second time.
            {"whatsapp": phone(3), "data": {"voucher_code": "G"}},
        ]
        job = submit(mixed)
        assert bulk.expand(job.id) == 3
        db.session.refresh(job)
        assert job.invalid_count == 4 and job.duplicate_count == 0
        by_index = {e["index"]: e for e in job.errors}
        assert by_index[1]["code"] == "invalid_phone_number"
        assert by_index[1]["field"] == "recipients.1.whatsapp"
        assert by_index[2]["code"] == "missing_variable"
        assert by_index[2]["field"] == "recipients.2.data.voucher_code"
        assert by_index[3]["field"] == "recipients.3.whatsapp"
        assert by_index[4]["field"] == "recipients.4.data"
        sent = rows(job)
        assert [r.to_number for r in sent] == ["6281200000001", "6281200000006", "6281200000003"]
        assert sent[1].email == "f@example.com" and sent[0].email is None

    def test_a_recipient_with_more_than_one_fallback_address_is_refused(self):
        addresses = ["a@x.example, b@y.example", "b@x.example\nBcc: c@y.example",
                     "Sari <sari@x.example>", ""]  # fmt: skip
        job = submit([
            {"whatsapp": phone(n + 1), "data": {"voucher_code": "V"}, "email": address}
            for n, address in enumerate(addresses)
        ])  # fmt: skip
        assert bulk.expand(job.id) == 2
        db.session.refresh(job)
        by_index = {e["index"]: e for e in job.errors}
        assert (
            by_index[0]["field"] == "recipients.0.email" and "not a list" in by_index[0]["message"]
        )
        assert by_index[1]["field"] == "recipients.1.email"
        assert [(r.to_number, r.email) for r in rows(job)] == [
            ("6281200000003", "sari@x.example"),
            ("6281200000004", None),
        ]

    def test_a_rerun_goes_on_after_the_last_committed_batch(self):
        job = submit(recipients(130))
        # As if an earlier run died after its first batch: 50 rows written, expanded = 50.
        bulk.expand(job.id)
        M = WhatsAppMessage
        db.session.execute(db.delete(M).where(M.bulk_job_id == job.id, M.id > 50))
        db.session.execute(
            db.update(BulkJob).where(BulkJob.id == job.id).values(status="expanding", expanded=50)
        )
        db.session.commit()
        assert bulk.expand(job.id) == 80
        assert len({r.to_number for r in rows(job)}) == 130

    def test_a_rerun_of_a_finished_expansion_writes_nothing(self):
        job = submit(recipients(5))
        bulk.expand(job.id)
        assert bulk.expand(job.id) == 0
        assert len(rows(job)) == 5


@pytest.mark.usefixtures("ctx")
class TestRefusedRequests:
    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            ({"template": "voucher_activated"}, "recipients"),
            ({"recipients": [], "template": "voucher_activated"}, "recipients"),
            ({"recipients": ["0812"], "template": "voucher_activated"}, "recipients.0"),
            ({"recipients": [{}]}, "template"),
            ({"recipients": [{}], "template": "x", "templateData": [1]}, "templateData"),
            ({"recipients": [{}], "template": "x", "priority": 11}, "priority"),
            ({"recipients": [{}], "template": "x", "priority": True}, "priority"),
            ({"recipients": [{}], "template": "x", "routing": "random"}, "routing"),
            ({"recipients": [{}], "template": "x", "scheduleAt": "besok"}, "scheduleAt"),
        ],
    )
    def test_the_shape_is_checked_naming_the_field(self, raw, field):
        with pytest.raises(KabarError) as caught:
            bulk.parse_request(raw)
        assert caught.value.field == field

    def test_too_many_recipients(self):
        with pytest.raises(KabarError) as caught:
            bulk.parse_request({"recipients": [{}] * 50_001, "template": "x"})
        assert "50,000" in caught.value.message

    def test_an_unknown_template_is_refused_before_anything_is_stored(self):
        with pytest.raises(TemplateNotFound):
            bulk.submit(bulk.parse_request({"recipients": [{}], "template": "nope"}))
        assert db.session.scalar(db.select(db.func.count(BulkJob.id))) == 0


@pytest.mark.usefixtures("ctx")
class TestControl:
    def test_pause_holds_the_queued_rows_and_resume_queues_them_again(self, redis_client):
        job = submit(recipients(60))
        bulk.expand(job.id)
        sent_one = rows(job)[0]
        sent_one.status = "sent"
        db.session.commit()
        bulk.pause(job.job_id)
        statuses = [r.status for r in rows(job)]
        assert statuses.count("paused") == 59 and statuses.count("sent") == 1
        report = bulk.report(job)
        assert report["status"] == "paused" and report["counts"]["paused"] == 59

        redis_client.delete(BULK_QUEUE)
        bulk.resume(job.job_id)
        assert job.status == "running"
        assert [r.status for r in rows(job)].count("queued") == 59
        assert redis_client.hlen(BULK_QUEUE) == 2  # fresh jobs: batches of 50 and 9 rows

    def test_rows_resumed_after_an_outage_wait_out_the_next_one_from_the_resume(self):
        job = submit(recipients(2))
        bulk.expand(job.id)
        for waiting in rows(job):  # they waited two hours for a number, then were paused
            waiting.waiting_since = datetime.now(UTC) - timedelta(hours=2)
        db.session.commit()
        bulk.pause(job.job_id)
        bulk.resume(job.job_id)

        outcome = sending.deliver_batch([r.id for r in rows(job)])  # still no number

        assert outcome.unsent == [] and sorted(outcome.later) == [r.id for r in rows(job)]

    def test_a_paused_expansion_stops_and_goes_on_when_resumed(self, redis_client):
        job = submit(recipients(120))
        bulk.pause(job.job_id)
        assert bulk.expand(job.id) == 0
        redis_client.delete(EXPANSIONS)
        bulk.resume(job.job_id)
        assert job.status == "pending" and redis_client.hlen(EXPANSIONS) == 1
        assert bulk.expand(job.id) == 120

    def test_cancel_stops_everything_not_yet_sent(self):
        job = submit(recipients(10))
        bulk.expand(job.id)
        first, second = rows(job)[:2]
        first.status = "delivered"
        second.status, second.sent_at = "queued", datetime.now(UTC)  # being sent right now
        db.session.commit()
        bulk.cancel(job.job_id)
        assert job.status == "cancelled" and job.finished_at
        statuses = [r.status for r in rows(job)]
        assert statuses[0] == "delivered" and statuses.count("cancelled") == 9
        counts = bulk.report(job)["counts"]
        # The row whose send was under way went out all the same.
        assert counts["sent"] == 1 and counts["cancelled"] == 8 and counts["delivered"] == 1
        assert bulk.report(job)["progress"] == 100.0

    def test_a_cancelled_job_is_never_expanded(self):
        job = submit(recipients(10))
        bulk.cancel(job.job_id)
        assert bulk.expand(job.id) == 0 and rows(job) == []
        assert bulk.report(job)["progress"] == 100.0

    def test_refused_transitions_are_conflicts(self):
        job = submit(recipients(2))
        with pytest.raises(Conflict):
            bulk.resume(job.job_id)
        bulk.cancel(job.job_id)
        for action in (bulk.pause, bulk.cancel, bulk.resume):
            with pytest.raises(Conflict):
                action(job.job_id)


@pytest.mark.usefixtures("ctx")
class TestSchedulingAndProgress:
    def test_a_scheduled_job_starts_when_its_time_comes(self, redis_client):
        later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        job = submit(recipients(3), scheduleAt=later)
        assert job.status == "scheduled" and redis_client.hlen(EXPANSIONS) == 0
        assert bulk.maintain()["started"] == 0
        db.session.execute(
            db.update(BulkJob)
            .where(BulkJob.id == job.id)
            .values(schedule_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
        assert bulk.maintain()["started"] == 1
        assert redis_client.hlen(EXPANSIONS) == 1
        db.session.refresh(job)
        assert job.status == "pending"

    def test_a_local_schedule_time_is_read_in_the_operators_time_zone(self):
        request = bulk.parse_request(
            {"recipients": [{}], "template": "x", "scheduleAt": "2026-12-01T08:00:00"}
        )
        assert request.schedule_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

    def test_a_schedule_time_in_the_past_starts_at_once(self):
        job = submit(recipients(1), scheduleAt="2020-01-01T00:00:00Z")
        assert job.status == "pending"

    def test_progress_counts_every_outcome_and_completes_the_job(self):
        job = submit(recipients(4) + [{"whatsapp": "0812"}, recipients(1)[0]])
        bulk.expand(job.id)
        written = rows(job)
        for row, status in zip(written, ["sent", "delivered", "read", "failed"], strict=True):
            row.status = status
        db.session.commit()
        report = bulk.report(job)
        assert report["counts"] == {
            "queued": 0,
            "paused": 0,
            "sent": 1,
            "delivered": 1,
            "read": 1,
            "failed": 1,
            "cancelled": 0,
        }
        assert report["invalid"] == 1 and report["duplicates"] == 1
        assert report["progress"] == 100.0
        assert bulk.maintain()["completed"] == 1
        db.session.refresh(job)
        assert job.status == "completed" and job.finished_at

    def test_a_lost_expansion_is_queued_again(self, redis_client):
        job = submit(recipients(2))
        redis_client.delete(EXPANSIONS)
        db.session.execute(
            db.update(BulkJob)
            .where(BulkJob.id == job.id)
            .values(updated_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        db.session.commit()
        assert bulk.maintain()["requeued"] == 1
        assert redis_client.hlen(EXPANSIONS) == 1
        assert bulk.maintain()["requeued"] == 0


def test_expansion_works_on_sqlite_too(tmp_path):
    """The zero-configuration database: no sequences, no row locks, same outcome."""
    from flask_migrate import upgrade

    from webapp import create_app

    sqlite_app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'kabar.db'}"})
    with sqlite_app.app_context():
        upgrade()
        job = submit(recipients(60) + recipients(1))
        assert bulk.expand(job.id) == 60
        db.session.refresh(job)
        assert job.status == "running" and job.duplicate_count == 1
        ledger = db.session.scalar(db.select(db.func.count(WhatsAppQueueJob.id)))
        assert ledger == 2 and len(rows(job)) == 60  # batches of 50 and 10 rows
        bulk.pause(job.job_id)
        assert bulk.report(job)["counts"]["paused"] == 60
        db.session.remove()
        db.engine.dispose()
