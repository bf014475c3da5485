"""The read API: a ticket's decision with its timeline and review, recent deliveries, health and metrics;
and, nested under the same token, `/api/reviews` (see `review_api`)."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .platforms import PLATFORMS
from .review_api import reviews_api
from .reviews import review_url

api = Blueprint("api", __name__, url_prefix="/api")
api.register_blueprint(reviews_api)
health = Blueprint("health", __name__)

MAX_LIMIT = 500
_DECIDED = ("severity", "level", "owner", "assignee", "priority", "labels", "matrix_version")


def _container():
    return current_app.extensions["escalator"]


@api.before_request
def require_token():
    token = _container().settings.api_token
    if not token:
        return None
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        return jsonify({"error": "missing or wrong API token; send `Authorization: Bearer <ESCALATOR_API_TOKEN>`"}), 401
    return None


@api.get("/tickets/<platform>/<path:key>")
def ticket(platform: str, key: str):
    with _container().store.reading() as tx:
        row = tx.ticket(platform, key)
        pending = tx.pending_of(platform, key)
        if row is None and not pending:
            return jsonify({"error": f"no ticket {platform}/{key} has been seen; check the platform and key"}), 404
        timeline = tx.timeline(platform, key)
        timers = tx.timers_of(platform, key)
        outbox = tx.outbox_rows(key=key, limit=MAX_LIMIT)
    review = _container().store.review_of(platform, key)
    decided = {f: row[f] if row else ("" if f != "labels" else []) for f in _DECIDED}
    return jsonify({
        "platform": platform, "key": key, **decided,
        "status": "pending" if pending else "decided",
        "pending": [{"delivery": p["id"], "event": p["event_kind"], "received_at": _iso(p["received_at"])}
                    for p in pending],
        "created_at": _iso(row["created_at"]) if row else None, "updated_at": _iso(row["updated_at"]) if row else None,
        "timers": [_timer(t, _container().clock.now()) for t in timers],
        "timeline": [_entry(e) for e in timeline],
        "outbox": [_outbox(o) for o in outbox if o["platform"] == platform],
        "review": {"id": review.id, "status": review.status, "url": review_url(review.id)} if review else None,
    })


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


def _iso(value):
    return value.isoformat() if value is not None else None


def _timer(t: dict, now) -> dict:
    overdue = t["state"] == "running" and t["due_at"] is not None and t["due_at"] <= now
    return {"name": t["name"], "state": "breached" if overdue and not t["recurring"] else t["state"],
            "seconds": t["seconds"], "calendar": t["calendar"], "recurring": t["recurring"],
            "started_at": _iso(t["started_at"]), "due_at": _iso(t["due_at"]), "warn_at": _iso(t["warn_at"]),
            "stopped_at": _iso(t["stopped_at"])}


def _entry(e: dict) -> dict:
    return {"id": e["id"], "at": _iso(e["at"]), "event": e["event_kind"], "actor": e["actor"],
            "delivery": e["delivery_id"], "changes": e["changes"], "matrix_version": e["matrix_version"],
            "trace": e["decision"].get("trace", []), "reasons": e["decision"].get("reasons", {}),
            "communications": e["communications"], "decision": e["decision"]}


def _outbox(o: dict) -> dict:
    return {"id": o["id"], "platform": o["platform"], "key": o["key"], "kind": o["kind"], "status": o["status"],
            "attempts": o["attempts"], "request": o["request"], "last_error": o["last_error"],
            "created_at": _iso(o["created_at"]), "finished_at": _iso(o["finished_at"]),
            "next_attempt_at": _iso(o["next_attempt_at"])}
