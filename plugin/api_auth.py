"""Who may call `/api`: a caller with the Bearer token (`ESCALATOR_API_TOKEN`, full access, for scripts),
or a dashboard user whose role holds the route's permission. On a fresh install that has neither a
token nor a user (which `serve` only allows on this machine), the API stays open as before."""
from __future__ import annotations

import hmac

from flask import current_app, jsonify, request
from flask_login import current_user

from .access import allowed, roles_with


def check(permission: str):
    """None when the caller may go on; else the 401 or 403 JSON answer."""
    token = current_app.extensions["escalator"].settings.api_token
    given = request.headers.get("Authorization", "")
    if given:
        scheme, _, value = given.partition(" ")
        if token and scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return None
        return _unauthorized("wrong API token; send `Authorization: Bearer <ESCALATOR_API_TOKEN>`")
    if current_user.is_authenticated:
        if allowed(current_user.role, permission):
            return None
        return jsonify({"error": f"your role ({current_user.role}) cannot do this; it needs one of: "
                                 f"{', '.join(roles_with(permission))}"}), 403
    if not token and not _users_exist():
        return None
    return _unauthorized("log in to the dashboard, or send `Authorization: Bearer <ESCALATOR_API_TOKEN>`")


def _unauthorized(message: str):
    return jsonify({"error": message}), 401, {"WWW-Authenticate": 'Bearer realm="escalator"'}


def _users_exist() -> bool:
    # Once there is a user the answer never goes back to "no" for this process: cache it.
    if not current_app.extensions.get("escalator.users_exist"):
        users = current_app.extensions.get("escalator.users")
        current_app.extensions["escalator.users_exist"] = bool(users and users.count())
    return current_app.extensions["escalator.users_exist"]
