"""`/deliveries`: what came in and what went out — recent deliveries, the outbox by status, and the
dead letters with the error that killed each; an admin can put a dead letter back in the queue, from
the page or with `POST /api/outbox/<id>/retry`."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, url_for

from plugin.access import ADMIN, VIEW
from plugin.outbox import retry_dead

from .auth import requires

deliveries = Blueprint("deliveries", __name__)
LIMIT = 100
MAX_ID = 2**31 - 1          # past the outbox id column on PostgreSQL (32 bits): no such row on either database
STATUSES = ("pending", "sending", "sent", "skipped", "dry_run", "dead")     # the outbox's, in a row's life order


@deliveries.get("/deliveries")
@requires(VIEW)
def index():
    with _container().store.reading() as tx:
        recent = tx.recent_deliveries(LIMIT)
        counts = tx.outbox_counts()
        dead = tx.outbox_rows(status="dead", limit=LIMIT)
    return render_template("deliveries/index.html", recent=recent, counts=counts, statuses=STATUSES, dead=dead,
                           limit=LIMIT)


@deliveries.post("/deliveries/dead/<int:outbox_id>/retry")
@requires(ADMIN)
def retry(outbox_id: int):
    requeued, _ = _retry(outbox_id)
    if requeued:
        flash(f"Write-back {outbox_id} is queued again, with a fresh count of attempts.", "info")
    else:
        flash(f"Write-back {outbox_id} is not a dead letter (any more); nothing was queued.", "error")
    return redirect(url_for("deliveries.index"))


@deliveries.post("/api/outbox/<int:outbox_id>/retry")
@requires(ADMIN)
def retry_api(outbox_id: int):
    requeued, status = _retry(outbox_id)
    if status is None:
        return jsonify({"error": f"no write-back {outbox_id}; GET /api/deliveries lists the dead letters"}), 404
    if not requeued:
        return jsonify({"error": f"write-back {outbox_id} is {status}, not dead: only a dead letter is retried"}), 409
    return jsonify({"id": outbox_id, "status": status})


def _retry(outbox_id: int) -> tuple[bool, str | None]:
    if outbox_id > MAX_ID:      # the database would refuse to compare it, a 503 instead of a 404
        return False, None
    container = _container()
    return retry_dead(container.store, outbox_id, container.clock.now())


def _container():
    return current_app.extensions["escalator"]
