"""POST /webhooks/<platform>: verify, then hand the delivery to intake, and map the receipt to HTTP.

Answers follow the external contract: 202 with accepted/duplicate/ignored as soon as the delivery
is stored (the processor decides it within a second); 400 malformed, 401 bad signature, 413 too
large, 415 not JSON; always a JSON body with a readable `error`. Unsupported events get a 202
"ignored" so the sender stops retrying them.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..domain.errors import AnomalousPayload
from ..intake import ingest
from ..platforms import PARSERS
from .signatures import SignatureError, verify_jira, verify_zendesk

bp = Blueprint("webhooks", __name__)


def error(status: int, message: str, **extra):
    return jsonify({"error": message, **extra}), status


@bp.post("/webhooks/<platform>")
def receive(platform: str):
    container = current_app.extensions["escalator"]
    count = container.metrics.deliveries.labels
    if platform not in PARSERS:
        return error(404, f"unknown platform {platform!r}; post to /webhooks/jira or /webhooks/zendesk")
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        count(platform, "rejected").inc()
        return error(415, f"expected a JSON body (Content-Type: application/json), got {request.mimetype or 'none'!r}")
    body = request.get_data(cache=True)          # over the body limit this raises 413
    try:
        authenticated_by = _verify(platform, body, container)
    except SignatureError as exc:
        count(platform, "unauthorized").inc()
        return error(401, str(exc))
    try:
        receipt = ingest(container.store, platform, body, request.headers, container.clock.now(),
                         authenticated_by=authenticated_by, bots=container.bots.get(platform, ()))
    except AnomalousPayload as exc:
        count(platform, "rejected").inc()
        return error(400, str(exc))
    count(platform, receipt.status).inc()
    if receipt.status == "accepted":
        container.processor.doorbell.set()
    return jsonify(receipt.as_dict()), 202


def _verify(platform: str, body: bytes, container) -> str:
    settings = container.settings
    if platform == "jira":
        return verify_jira(body, request.headers, settings.jira_webhook_secret, settings.jira_automation_secret)
    return verify_zendesk(body, request.headers, settings.zendesk_webhook_secret,
                          now=container.clock.now().timestamp(), max_age=settings.zendesk_max_age)
