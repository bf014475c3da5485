"""POST /webhooks/<platform>: verify, then hand the delivery to intake, and map the receipt to HTTP.

Answers follow the external contract: 202 with accepted/duplicate/ignored as soon as the delivery
is stored (the processor decides it within a second); 400 malformed, 401 bad signature, 413 too
large, 415 not JSON; always a JSON body with a readable `error`. Unsupported events get a 202
"ignored" so the sender stops retrying them.
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request

from ..domain.errors import AnomalousPayload
from ..intake import ingest
from ..logs import context
from ..platforms import PLATFORMS, SignatureError

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)


def error(status: int, message: str, **extra):
    return jsonify({"error": message, **extra}), status


@bp.post("/webhooks/<platform>")
def receive(platform: str):
    container = current_app.extensions["escalator"]
    count = container.metrics.deliveries.labels
    adapter = PLATFORMS.get(platform)
    if adapter is None:
        return error(404, f"unknown platform {platform!r}; post to "
                     + " or ".join(f"/webhooks/{name}" for name in PLATFORMS))
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        count(platform, "rejected").inc()
        return error(415, f"expected a JSON body (Content-Type: application/json), got {request.mimetype or 'none'!r}")
    body = request.get_data(cache=True)          # over the body limit this raises 413
    now = container.clock.now()
    try:
        authenticated_by = adapter.verify(body, request.headers, container.settings, now)
    except SignatureError as exc:
        count(platform, "unauthorized").inc()
        log.warning("refused a %s delivery: signature %s", platform, exc.reason, extra=context(platform=platform))
        return error(401, str(exc))
    try:
        receipt = ingest(container.store, platform, body, request.headers, now,
                         authenticated_by=authenticated_by, bots=container.bots.get(platform, ()))
    except AnomalousPayload as exc:
        count(platform, "rejected").inc()
        return error(400, str(exc))
    count(platform, receipt.status).inc()
    key = receipt.ticket.partition("/")[2]
    log.info("delivery %s %s%s", receipt.delivery or "-", receipt.status, f" for {receipt.ticket}" if key else "",
             extra=context(delivery=receipt.delivery, platform=platform, ticket=key))
    if receipt.status == "accepted":
        container.processor.doorbell.set()
    return jsonify(receipt.as_dict()), 202
