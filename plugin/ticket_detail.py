"""A ticket as the API and the dashboard show it: the decision, pending deliveries, timers, the
escalation log with each entry's rule trace, the outbox and the review, read in one snapshot."""
from __future__ import annotations

from .reviews import review_url

MAX_ROWS = 500
_DECIDED = ("severity", "level", "owner", "assignee", "priority", "labels", "matrix_version")


def ticket_detail(container, platform: str, key: str) -> dict | None:
    """The ticket as JSON-ready values; None when it was never seen."""
    with container.store.reading() as tx:
        row = tx.ticket(platform, key)
        pending = tx.pending_of(platform, key)
        if row is None and not pending:
            return None
        timeline = tx.timeline(platform, key)
        timers = tx.timers_of(platform, key)
        outbox = tx.outbox_rows(key=key, limit=MAX_ROWS)
    review = container.store.review_of(platform, key)
    decided = {f: row[f] if row else ("" if f != "labels" else []) for f in _DECIDED}
    return {
        "platform": platform, "key": key, **decided,
        "status": "pending" if pending else "decided",
        "pending": [{"delivery": p["id"], "event": p["event_kind"], "received_at": iso(p["received_at"])}
                    for p in pending],
        "created_at": iso(row["created_at"]) if row else None, "updated_at": iso(row["updated_at"]) if row else None,
        "timers": [timer_json(t, container.clock.now()) for t in timers],
        "timeline": [entry_json(e) for e in timeline],
        "outbox": [outbox_json(o) for o in outbox if o["platform"] == platform],
        "review": {"id": review.id, "status": review.status, "url": review_url(review.id)} if review else None,
        "snapshot": _shown_snapshot(row["snapshot"]) if row else {},
        "simulated": bool(row.get("simulated")) if row else False,
    }


def _shown_snapshot(snapshot: dict) -> dict:
    """The ticket's fields as last seen, as the agent sees them on the platform."""
    return {k: v for k, v in (snapshot or {}).items() if v not in ("", [], None)}


def iso(value):
    return value.isoformat() if value is not None else None


def timer_json(t: dict, now) -> dict:
    overdue = t["state"] == "running" and t["due_at"] is not None and t["due_at"] <= now
    return {"name": t["name"], "state": "breached" if overdue and not t["recurring"] else t["state"],
            "seconds": t["seconds"], "calendar": t["calendar"], "recurring": t["recurring"],
            "started_at": iso(t["started_at"]), "due_at": iso(t["due_at"]), "warn_at": iso(t["warn_at"]),
            "stopped_at": iso(t["stopped_at"])}


def entry_json(e: dict) -> dict:
    return {"id": e["id"], "at": iso(e["at"]), "event": e["event_kind"], "actor": e["actor"],
            "delivery": e["delivery_id"], "changes": e["changes"], "matrix_version": e["matrix_version"],
            "trace": e["decision"].get("trace", []), "reasons": e["decision"].get("reasons", {}),
            "communications": e["communications"], "decision": e["decision"]}


def outbox_json(o: dict) -> dict:
    return {"id": o["id"], "platform": o["platform"], "key": o["key"], "kind": o["kind"], "status": o["status"],
            "attempts": o["attempts"], "request": o["request"], "last_error": o["last_error"],
            "created_at": iso(o["created_at"]), "finished_at": iso(o["finished_at"]),
            "next_attempt_at": iso(o["next_attempt_at"])}
