"""`/`: the live escalations, open tickets by level with their running clocks, refreshing on their own."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from plugin.access import VIEW
from plugin.live_board import FILTERS, board
from plugin.store.live_sql import open_escalations

from .auth import requires

live = Blueprint("live", __name__)
REFRESH_SECONDS = 15


@live.get("/")
@requires(VIEW)
def index():
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    simulated = request.args.get("simulated") == "1"
    container = current_app.extensions["escalator"]
    with container.store.reading() as tx:
        tickets, timers = open_escalations(tx.conn, simulated=simulated)
    result = board(tickets, timers, container.clock.now(), filters)
    # htmx asks for the board alone on each refresh; a normal visit gets the whole page.
    template = "live/board.html" if request.headers.get("HX-Request") else "live/index.html"
    return render_template(template, board=result, filters=filters, simulated=simulated, refresh=REFRESH_SECONDS)
