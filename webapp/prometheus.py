"""``GET /metrics``: Prometheus exposition, computed at scrape time from PostgreSQL and Redis.

Every process (web, workers, session host) shares one truth, the database and Redis, so the
figures are read from there by a custom collector instead of being counted in each process.

Access: with ``METRICS_TOKEN`` set, a scraper sends ``Authorization: Bearer <token>``; without
one, only requests from this machine (loopback) are answered, which suits a Prometheus on the
same host. "From this machine" is the real client's address (``webapp/proxies``): behind a
trusted proxy the address it forwards, and a request an untrusted proxy forwarded (it carries
X-Forwarded-For) is never taken for a local one. A proxy that adds no forwarding header cannot
be told from a local scraper: set the token when a proxy on this machine forwards outside
requests.

Metrics (all prefixed ``kabar_``):
- ``messages{status,session}``: messages created in the last 24 hours.
- ``send_latency_seconds{band}``: histogram of created -> sent of messages sent in the last hour.
- ``queue_depth{queue,state}``: Dramatiq messages ready, delayed and in progress per queue.
- ``messages_queued{band}``: messages waiting to be sent, whatever their jobs (a bulk job
  carries up to 50).
- ``sessions{status}``, ``session_state{session,status}``: sessions by state, and each one's.
- ``session_messages_sent_total{session}``, ``session_errors_total{session}``: counters kept on
  the session rows.
- ``metrics_source_up{source}``: 1 when the database / Redis answered this scrape.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa
from flask import Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from webapp import proxies
from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession
from webapp.redis_client import get_redis
from workers.pipeline.metrics import changed_since, seconds_between
from workers.queue.contracts import BANDS, SESSION_STATES, WENT_OUT, Band, MessageStatus

log = logging.getLogger(__name__)

QUEUES = (*BANDS, Band.EVENTS, Band.MAINTENANCE)
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
MESSAGES_WINDOW = timedelta(hours=24)
LATENCY_WINDOW = timedelta(hours=1)


class KabarCollector(Collector):
    """Reads the figures when Prometheus scrapes; needs an app context."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "kabar_metrics_source_up",
            "Whether the source answered this scrape (1) or not (0).",
            labels=["source"],
        )
        try:
            yield from self._database()
            up.add_metric(["database"], 1)
        except sa.exc.SQLAlchemyError:
            log.exception("metrics: the database did not answer")
            db.session.rollback()
            up.add_metric(["database"], 0)
        try:
            yield from self._queues()
            up.add_metric(["redis"], 1)
        except redis.RedisError:
            log.exception("metrics: Redis did not answer")
            up.add_metric(["redis"], 0)
        yield up

    def _database(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        families = [
            self._messages(now),
            self._queued(),
            self._latency(now),
            *self._sessions(),
        ]
        db.session.rollback()
        yield from families

    def _messages(self, now: datetime) -> Metric:
        M = WhatsAppMessage
        family = GaugeMetricFamily(
            "kabar_messages",
            "Messages created in the last 24 hours, by status and the session that sent them.",
            labels=["status", "session"],
        )
        rows = db.session.execute(
            sa.select(M.status, M.session_id, sa.func.count())
            .where(M.created_at >= now - MESSAGES_WINDOW)
            .group_by(M.status, M.session_id)
        )
        for status, session_id, count in rows:
            family.add_metric([status or "", session_id or ""], count)
        return family

    def _queued(self) -> Metric:
        M = WhatsAppMessage
        family = GaugeMetricFamily(
            "kabar_messages_queued",
            "Messages waiting to be sent, by band.",
            labels=["band"],
        )
        rows = dict(
            db.session.execute(
                sa.select(M.band, sa.func.count())
                .where(M.status == MessageStatus.QUEUED)
                .group_by(M.band)
            ).all()
        )
        for band in BANDS:
            family.add_metric([band], rows.get(band, 0))
        return family

    def _latency(self, now: datetime) -> Metric:
        M = WhatsAppMessage
        latency = seconds_between(M.created_at, M.sent_at)
        columns = [
            sa.func.coalesce(sa.func.sum(sa.case((latency <= bound, 1), else_=0)), 0)
            for bound in LATENCY_BUCKETS
        ]
        rows = db.session.execute(
            sa.select(M.band, sa.func.count(), sa.func.coalesce(sa.func.sum(latency), 0), *columns)
            .where(
                changed_since(now - LATENCY_WINDOW),
                M.sent_at >= now - LATENCY_WINDOW,
                # created_at bounds the scan (index on status, created_at); a message queued
                # for over a day before it went is left out.
                M.created_at >= now - LATENCY_WINDOW - timedelta(days=1),
                M.status.in_(WENT_OUT),
            )
            .group_by(M.band)
        )
        family = HistogramMetricFamily(
            "kabar_send_latency_seconds",
            "Seconds from accepting a message to sending it, of messages sent in the last hour.",
            labels=["band"],
        )
        for band, count, total, *cumulative in rows:
            buckets = [
                (_bound(b), float(n)) for b, n in zip(LATENCY_BUCKETS, cumulative, strict=True)
            ]
            buckets.append(("+Inf", float(count)))
            family.add_metric([band or ""], buckets, sum_value=max(float(total), 0.0))
        return family

    def _sessions(self) -> list[Metric]:
        S = WhatsAppSession
        rows = db.session.execute(
            sa.select(S.session_id, S.status, S.message_count, S.error_count).order_by(S.id)
        ).all()
        by_status = GaugeMetricFamily(
            "kabar_sessions", "Sessions (linked numbers) by state.", labels=["status"]
        )
        counts = dict.fromkeys(SESSION_STATES, 0)
        for row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        for status, count in counts.items():
            by_status.add_metric([status], count)
        state = GaugeMetricFamily(
            "kabar_session_state",
            "1 for each session, labelled with its current state.",
            labels=["session", "status"],
        )
        sent = CounterMetricFamily(
            "kabar_session_messages_sent",
            "Messages each session has sent since it was created.",
            labels=["session"],
        )
        errors = CounterMetricFamily(
            "kabar_session_errors",
            "Send errors and failed health checks of each session since it was created.",
            labels=["session"],
        )
        for row in rows:
            state.add_metric([row.session_id, row.status], 1)
            sent.add_metric([row.session_id], row.message_count or 0)
            errors.add_metric([row.session_id], row.error_count or 0)
        return [by_status, state, sent, errors]

    def _queues(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "kabar_queue_depth",
            "Dramatiq messages per queue: ready to take, delayed (retries, give-backs, quiet "
            "hours) and in progress.",
            labels=["queue", "state"],
        )
        pipe = get_redis().pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(f"dramatiq:{queue}")
            pipe.hlen(f"dramatiq:{queue}.msgs")
            pipe.hlen(f"dramatiq:{queue}.DQ.msgs")
        results = pipe.execute()
        for i, queue in enumerate(QUEUES):
            ready, stored, delayed = results[3 * i : 3 * i + 3]
            family.add_metric([queue, "ready"], ready)
            family.add_metric([queue, "delayed"], delayed)
            family.add_metric([queue, "in_progress"], max(stored - ready, 0))
        yield family


def _bound(value: float) -> str:
    return f"{float(value)}"


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN") or ""
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
    if proxies.forwarded_for_someone_else(current_app):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def register_metrics(app: Flask) -> None:
    """Add ``/metrics`` to ``app``, with a registry of its own (several apps may coexist)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KabarCollector())

    def metrics() -> Response:
        if not _allowed():
            if current_app.config.get("METRICS_TOKEN"):
                return Response(
                    "send the metrics token as a Bearer token\n", 401, mimetype="text/plain"
                )
            return Response(
                "/metrics answers only this machine unless KABAR_METRICS_TOKEN is set\n",
                403,
                mimetype="text/plain",
            )
        # The classic text format (0.0.4): every Prometheus 2.x and promtool read it.
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)

    app.add_url_rule("/metrics", "prometheus_metrics", metrics, methods=["GET"])
