"""`/tickets/<platform>/<key>`: a ticket's timeline, every event, decision and message with the rule
trace behind it ("why is this L2?"), its drafts waiting to be tailored, its clocks, its outbox and its review."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from plugin.access import SEND_DRAFTS, VIEW
from plugin.platforms import PLATFORMS
from plugin.ticket_detail import ticket_detail

from .auth import current_user, requires

tickets = Blueprint("tickets", __name__)


@tickets.get("/tickets/<platform>/<path:key>")
@requires(VIEW)
def show(platform: str, key: str):
    found = ticket_detail(current_app.extensions["escalator"], platform, key) if platform in PLATFORMS else None
    if found is None:
        message = f"No ticket {platform}/{key} has been seen. Check the platform (jira or zendesk) and the key."
        return render_template("error.html", code=404, message=message), 404
    container = current_app.extensions["escalator"]
    return render_template("tickets/show.html", t=found, drafts=container.store.drafts_of(platform, key),
                           now=container.clock.now(), can_send_drafts=current_user().can(SEND_DRAFTS))
