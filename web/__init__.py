"""The dashboard: server-rendered pages for team leads, trainers and admins, behind a login.

`init_app` adds sessions, CSRF protection, the security headers and every page's blueprint to the
Flask app that `plugin.app.create_app` builds; the webhooks keep their own signature checks.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from . import auth, filters, security
from .audit import audit_page
from .deliveries import deliveries
from .drafts import drafts
from .drills import bp as drills
from .insights import insights
from .live import live
from .matrix_page import matrix
from .openapi import openapi
from .reviews import bp as reviews
from .simulations import simulations
from .tickets import tickets

STATIC, TEMPLATES = str(Path(__file__).parent / "static"), str(Path(__file__).parent / "templates")
PAGES = [auth.pages, live, tickets, openapi, matrix, insights, reviews, drills, simulations, audit_page,
         deliveries, drafts]


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(filters.ALL)
    security.init_app(app)
    auth.init_app(app)
    for blueprint in PAGES:
        app.register_blueprint(blueprint)
