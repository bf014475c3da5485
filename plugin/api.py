"""The read API: a ticket's decision with its timeline and review, recent deliveries, health and metrics;
and, nested under the same token, `/api/reviews` (see `review_api`)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import api_auth
from .access import EDIT_REVIEWS, VIEW
from .platforms import PLATFORMS
from .review_api import reviews_api
from .ticket_detail import iso as _iso
from .ticket_detail import outbox_json as _outbox
from .ticket_detail import ticket_detail

api = Blueprint("api", __name__, url_prefix="/api")
api.register_blueprint(reviews_api)
health = Blueprint("health", __name__)

MAX_LIMIT = 500


def _container():
    return current_app.extensions["escalator"]


@api.before_request
def require_token():
    return api_auth.check(_permission())


def _permission() -> str:
    """The permission a route needs: reading needs VIEW, changing a review EDIT_REVIEWS; drills
    (their own blueprint) ask for theirs."""
    if request.blueprint == "api.reviews" and request.method not in ("GET", "HEAD"):
        return EDIT_REVIEWS
    return VIEW


@api.get("/tickets/<platform>/<path:key>")
def ticket(platform: str, key: str):
    found = ticket_detail(_container(), platform, key)
    if found is None:
        return jsonify({"error": f"no ticket {platform}/{key} has been seen; check the platform and key"}), 404
    return jsonify(found)


@api.get("/deliveries")
def deliveries():
    try:
        limit = min(max(int(request.args.get("limit", 50)), 1), MAX_LIMIT)
    except ValueError:
        return jsonify({"error": f"limit must be a number from 1 to {MAX_LIMIT}"}), 400
    with _container().store.reading() as tx:
        rows = tx.recent_deliveries(limit)
        counts = tx.outbox_counts()
        dead = tx.outbox_rows(status="dead", limit=limit)
        for row in rows:
            row["received_at"], row["decided_at"] = _iso(row["received_at"]), _iso(row["decided_at"])
            row["outbox"] = [_outbox(o) for o in tx.outbox_rows(delivery_id=row["id"])]
    return jsonify({"deliveries": rows, "outbox": counts, "dead_letters": [_outbox(o) for o in dead]})


@health.get("/healthz")
def healthz():
    container = _container()
    evaluator = container.matrix()
    body = {"matrix_version": evaluator.matrix.version, "engine": evaluator.backend_name,
            "dry_run": sorted(set(PLATFORMS) - set(container.clients))}
    try:
        backlog, oldest = container.store.backlog(container.clock.now())
    except Exception as exc:    # the health check reports any storage failure, it never raises
        return jsonify({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}", **body}), 503
    return jsonify({"status": "ok", "database": "ok", "backlog": backlog,
                    "oldest_pending_seconds": round(oldest, 3), **body})


@health.get("/metrics")
def metrics():
    registry = current_app.extensions["escalator.metrics"].registry
    return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}
