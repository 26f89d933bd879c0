"""Machine endpoints: /healthz for load balancers and orchestrators, /metrics for Prometheus."""
from __future__ import annotations

import hmac
from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, jsonify, request

from app.extensions import db
from app.ops import health, metrics

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
def healthz():
    healthy, details = health.check(
        db.session, scheduler_expected=current_app.config["SYNC_SCHEDULE_ENABLED"],
        stuck_after=timedelta(minutes=current_app.config["HEALTH_QUEUE_STUCK_MINUTES"]))
    response = jsonify({"status": "ok" if healthy else "unhealthy", **details})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/metrics")
def prometheus_metrics():
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(401)
    return Response(metrics.render(db.session), mimetype=metrics.CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Cache-Control": "no-store"})
