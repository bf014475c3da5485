"""The Flask application factory."""
from __future__ import annotations

import logging
import threading

from flask import Flask, jsonify, render_template
from werkzeug.exceptions import HTTPException

import web
from web.security import wants_html

from . import background, bootstrap
from .api import api, health
from .drafts_api import drafts_api
from .drills_api import drills
from .webhooks.views import bp as webhooks

log = logging.getLogger(__name__)


def create_app(container: bootstrap.Container | None = None, *, start_worker: bool = False,
               reload: bool = False) -> Flask:
    container = container or bootstrap.build()
    app = Flask(__name__, static_folder=web.STATIC, template_folder=web.TEMPLATES)
    app.config["MAX_CONTENT_LENGTH"] = container.settings.body_limit
    metrics = container.metrics
    app.extensions["escalator"] = container
    app.extensions["escalator.metrics"] = metrics
    for blueprint in (webhooks, api, health, drills, drafts_api):
        app.register_blueprint(blueprint)
    web.init_app(app)
    _register_error_handlers(app)
    if reload:
        app.extensions["escalator.stop_reload"] = bootstrap.watch_rules(container.matrix)
    if start_worker:
        app.extensions["escalator.stop_worker"] = stop = threading.Event()
        background.start(container, stop)
    return app


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {413: f"the body is larger than the limit of {app.config['MAX_CONTENT_LENGTH']} bytes "
                         f"(ESCALATOR_MAX_BODY_BYTES)",
                    404: "no such endpoint", 405: "method not allowed here"}
        # Keep what the exception says about itself, such as the methods a 405 allows (`Allow`).
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        if wants_html():
            pages = {404: "There is no such page.", 405: "This page cannot be used that way."}
            page = render_template("error.html", code=exc.code, message=pages.get(exc.code, exc.description))
            return page, exc.code, headers
        return jsonify({"error": messages.get(exc.code, exc.description)}), exc.code, headers

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # Never a traceback at the sender: answer 503 so Jira and Zendesk retry the delivery later,
        # and nothing was acknowledged, so nothing is lost.
        log.exception("unexpected error while handling a request")
        if wants_html():
            return render_template("error.html", code=503, message="Escalator could not show this page right now; "
                                   "try again in a moment. The error is in the server's log."), 503
        return jsonify({"error": "Escalator could not process this request right now; it was not accepted "
                                 "and will be processed when the sender retries"}), 503
