"""`/api/drafts`: drafted customer messages, and sending or discarding one.

Reading needs the `view` permission; sending and discarding `send_drafts` (agents, leads,
admins). A send or discard is queued for the processor and answered 202: the message then goes
out through the outbox like every other. Refusals are JSON `error`s a person can act on.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from . import api_auth
from .access import SEND_DRAFTS, VIEW
from .domain.drafts import DISCARD, SEND, DraftConflict, DraftNotFound, DraftRefused
from .drafting import act, draft_json, find

drafts_api = Blueprint("drafts_api", __name__, url_prefix="/api/drafts")
MAX_LIMIT = 500
_STATUS = {DraftNotFound: 404, DraftConflict: 409}


@drafts_api.before_request
def require_access():
    return api_auth.check(VIEW if request.method in ("GET", "HEAD") else SEND_DRAFTS)


@drafts_api.errorhandler(DraftRefused)
def refused(exc: DraftRefused):
    return jsonify({"error": str(exc)}), _STATUS.get(type(exc), 400)


@drafts_api.get("")
def listed():
    container = current_app.extensions["escalator"]
    pending = request.args.get("status", "pending") != "done"
    try:
        limit = min(max(int(request.args.get("limit", "100")), 1), MAX_LIMIT)
    except ValueError:
        return jsonify({"error": "limit is a whole number, e.g. 100"}), 400
    simulated = request.args.get("simulated", "") in ("1", "true")
    now = container.clock.now()
    found = container.store.drafts(pending=pending, limit=limit, simulated=simulated)
    return jsonify({"drafts": [draft_json(d, now) for d in found]})


@drafts_api.get("/<int:draft_id>")
def shown(draft_id: int):
    container = current_app.extensions["escalator"]
    return jsonify(draft_json(find(container.store, draft_id), container.clock.now()))


@drafts_api.post("/<int:draft_id>/send")
def sent(draft_id: int):
    return _act(draft_id, SEND, text=_field("text"))


@drafts_api.post("/<int:draft_id>/discard")
def discarded(draft_id: int):
    return _act(draft_id, DISCARD, reason=_field("reason"))


def _act(draft_id: int, action: str, **given: str):
    container = current_app.extensions["escalator"]
    draft = act(container.store, draft_id, action, _who(), container.clock.now(), **given)
    container.processor.doorbell.set()
    return jsonify({"status": "queued", "draft": draft.id, "action": action,
                    "ticket": f"{draft.platform}/{draft.key}"}), 202


def _field(name: str) -> str:
    body = request.get_json(silent=True)
    value = body.get(name, "") if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise DraftRefused(f"send a JSON object with `{name}` as text")
    return value


def _who() -> str:
    """Who acted, for the escalation log: the logged-in user, or `api` for the token's scripts."""
    return current_user.name if current_user.is_authenticated else "api"
