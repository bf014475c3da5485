"""POST /webhooks/<platform>: verify, parse, dedupe, decide and store in one transaction, answer 202.

Answers follow the external contract: 202 with accepted/duplicate/ignored; 400 malformed,
401 bad signature, 413 too large, 415 not JSON; always a JSON body with a readable `error`.
Unsupported events get a 202 "ignored" so the sender stops retrying them.
"""
from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, current_app, jsonify, request

from ..domain.errors import AnomalousPayload, UnsupportedEvent
from ..platforms import PARSERS, dedupe_key, parse
from .signatures import SignatureError, verify_jira, verify_zendesk

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

# Kept with each delivery for debugging; signatures and tokens are deliberately not among them.
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Atlassian-Webhook-Identifier", "X-Atlassian-Webhook-Retry",
                "X-Zendesk-Webhook-Id", "X-Zendesk-Webhook-Invocation-Id")


def error(status: int, message: str, **extra):
    return jsonify({"error": message, **extra}), status


@bp.post("/webhooks/<platform>")
def receive(platform: str):
    container = current_app.extensions["escalator"]
    metrics = current_app.extensions["escalator.metrics"]
    if platform not in PARSERS:
        return error(404, f"unknown platform {platform!r}; post to /webhooks/jira or /webhooks/zendesk")
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        metrics.deliveries.labels(platform, "rejected").inc()
        return error(415, f"expected a JSON body (Content-Type: application/json), got {request.mimetype or 'none'!r}")
    body = request.get_data(cache=True)          # over the body limit this raises 413
    try:
        authenticated_by = _verify(platform, body, container.settings)
    except SignatureError as exc:
        metrics.deliveries.labels(platform, "unauthorized").inc()
        return error(401, str(exc))
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        metrics.deliveries.labels(platform, "rejected").inc()
        return error(400, f"the body is not valid JSON: {exc}")
    return _accept(container, metrics, platform, body, payload, authenticated_by)


def _verify(platform: str, body: bytes, settings) -> str:
    if platform == "jira":
        return verify_jira(body, request.headers, settings.jira_webhook_secret, settings.jira_automation_secret)
    return verify_zendesk(body, request.headers, settings.zendesk_webhook_secret, now=time.time(),
                          max_age=float(settings.zendesk_max_age))


def _accept(container, metrics, platform, body, payload, authenticated_by):
    try:
        event = parse(platform, payload, request.headers)
        reason = "" if event is not None else "the delivery carries nothing to evaluate"
    except UnsupportedEvent as exc:
        event, reason = None, str(exc)
    except AnomalousPayload as exc:
        metrics.deliveries.labels(platform, "rejected").inc()
        return error(400, f"this does not look like a {platform} webhook: {exc}")
    started, outcome = time.perf_counter(), None
    with container.store.transaction() as tx:
        delivery_id = tx.record_delivery(platform=platform, dedupe_key=dedupe_key(platform, request.headers, body),
                                         received_at=container.clock.now(), headers=_kept_headers(), body=body,
                                         authenticated_by=authenticated_by)
        if delivery_id is None:
            pass
        elif event is None:
            tx.update_delivery(delivery_id, status="ignored", reason=reason)
        else:
            outcome = container.service.handle(tx, event, delivery_id)
            tx.update_delivery(delivery_id, status=outcome.status, reason=outcome.reason,
                               event_kind=event.kind.value, ticket_key=event.key)
    if delivery_id is None:
        metrics.deliveries.labels(platform, "duplicate").inc()
        return jsonify({"status": "duplicate", "delivery": None}), 202
    if event is None:
        metrics.deliveries.labels(platform, "ignored").inc()
        return jsonify({"status": "ignored", "delivery": delivery_id, "reason": reason}), 202
    metrics.decision_seconds.labels(platform).observe(time.perf_counter() - started)
    metrics.deliveries.labels(platform, outcome.status).inc()
    container.timers.schedule(outcome.wakeups)
    if outcome.outbox_ids:
        wake = current_app.extensions.get("escalator.wake")
        if wake is not None:
            wake.set()
    return jsonify(_answer(delivery_id, event, outcome)), 202


def _answer(delivery_id, event, outcome) -> dict:
    answer = {"status": outcome.status, "delivery": delivery_id, "ticket": f"{event.platform}/{event.key}"}
    if outcome.reason:
        answer["reason"] = outcome.reason
    if outcome.decision is not None:
        d = outcome.decision
        answer["decision"] = {"severity": d.severity, "level": d.level, "owner": d.owner, "matched": list(d.matched)}
        answer["changes"] = outcome.changes
        answer["outbox"] = list(outcome.outbox_ids)
    return answer


def _kept_headers() -> dict:
    return {name: request.headers[name] for name in KEPT_HEADERS if name in request.headers}
