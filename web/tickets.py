"""`/tickets/<platform>/<key>`: a ticket's timeline, every event, decision and message with the rule
trace behind it ("why is this L2?"), its clocks, its outbox and its review."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from plugin.access import VIEW
from plugin.platforms import PLATFORMS
from plugin.ticket_detail import ticket_detail

from .auth import requires

tickets = Blueprint("tickets", __name__)


@tickets.get("/tickets/<platform>/<path:key>")
@requires(VIEW)
def show(platform: str, key: str):
    found = ticket_detail(current_app.extensions["escalator"], platform, key) if platform in PLATFORMS else None
    if found is None:
        message = f"No ticket {platform}/{key} has been seen. Check the platform (jira or zendesk) and the key."
        return render_template("error.html", code=404, message=message), 404
    return render_template("tickets/show.html", t=found)
