"""/api/whatsapp/metrics: the seed's figures of one day (default today, operator's timezone)."""

from __future__ import annotations

from flask import jsonify, request
from marshmallow import EXCLUDE, Schema, fields

from webapp.api import bp
from workers.pipeline import metrics


class MetricsQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    date = fields.Date(format="%Y-%m-%d", load_default=None)


@bp.get("/whatsapp/metrics")
def daily_metrics():
    query = MetricsQuerySchema().load(request.args)
    return jsonify(metrics.daily(query["date"] or metrics.today()))
