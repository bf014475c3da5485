"""Logging in and out, the first admin's setup link, and the `requires(permission)` guard of every page.

Sessions are Flask's signed cookies (Flask-Login on top); the signing key is shared through the
database. A user's `session_epoch` is part of the session id, so a new password, a deactivation or
logging out ends every session that user had open (a signed cookie cannot be revoked one by one).
"""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, login_user, logout_user
from flask_login import current_user as _current_user

from plugin import api_auth
from plugin.access import ADMIN, AUDIT, EDIT_REVIEWS, PLAY_DRILLS, RUN_DRILLS, VIEW, allowed, roles_with
from plugin.passwords import hash_password, name_problem, needs_rehash, password_problem, verify
from plugin.store.users import User, UserError, UserStore

from .security import wants_html

__all__ = ["ADMIN", "AUDIT", "EDIT_REVIEWS", "PLAY_DRILLS", "RUN_DRILLS", "VIEW", "current_user", "requires"]

SETUP_SECRET = "setup_token"
LOCK_AFTER, LOCK_FOR = 5, timedelta(minutes=15)     # wrong passwords in a row, and how long they lock

pages = Blueprint("auth", __name__)
login_manager = LoginManager()


class Account(UserMixin):
    def __init__(self, user: User):
        self.user, self.name, self.role = user, user.name, user.role

    def get_id(self) -> str:
        return f"{self.user.session_epoch}:{self.user.name}"

    def can(self, permission: str) -> bool:
        return allowed(self.role, permission)


def users() -> UserStore:
    return current_app.extensions["escalator.users"]


def init_app(app: Flask) -> None:
    store = UserStore(app.extensions["escalator"].store.engine)
    app.extensions["escalator.users"] = store
    app.secret_key = store.secret("session_key")
    login_manager.init_app(app)
    app.context_processor(lambda: {"user": current_user(), "can": _can, "nav_endpoints": app.view_functions})


@login_manager.user_loader
def _load(session_id: str) -> Account | None:
    epoch, _, name = session_id.partition(":")
    user = users().get(name)
    if user is None or not user.active or not hmac.compare_digest(user.session_epoch, epoch):
        return None
    return Account(user)


def current_user() -> Account | None:
    return _current_user if _current_user.is_authenticated else None


def _can(permission: str) -> bool:
    user = current_user()
    return user is not None and user.can(permission)


def requires(permission: str):
    """Let the view run for a logged-in user whose role holds `permission`; send anyone else to log in
    (pages) or answer 401/403 (JSON)."""
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if request.path.startswith("/api/"):       # the token, a session or a fresh install: as all of /api
                return api_auth.check(permission) or view(*args, **kwargs)
            user = current_user()
            if user is None:
                if wants_html():
                    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
                return jsonify({"error": "log in first"}), 401
            if not user.can(permission):
                return forbidden(permission)
            return view(*args, **kwargs)
        guarded.permission = permission     # declared, so a test can hold every route to its role table
        return guarded
    return decorate


def forbidden(permission: str):
    message = (f"Your role ({current_user().role}) cannot do this; it needs one of: "
               f"{', '.join(roles_with(permission))}. Ask an admin.")
    if wants_html():
        return render_template("error.html", code=403, message=message), 403
    return jsonify({"error": message}), 403


# -- logging in and out -----------------------------------------------------------------------------

@pages.route("/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next", ""))
    if current_user() is not None:
        return redirect(target)
    if request.method == "POST":
        account = _authenticate(request.form.get("name", "").strip(), request.form.get("password", ""))
        if isinstance(account, Account):
            _start_session(account)
            return redirect(target)
        flash(account, "error")
    return render_template("login.html", next=target, first_run=users().count() == 0), \
        200 if request.method == "GET" else 401


@pages.post("/logout")
def logout():
    user = current_user()
    if user is not None:
        # A session lives in a signed cookie, so clearing it here leaves any copy of it valid; a new epoch
        # ends it on the server (and this user's other sessions with it).
        users().change(user.name, session_epoch=secrets.token_hex(8))
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


def _authenticate(name: str, password: str) -> Account | str:
    """The account, or what to tell the person (never which of name and password was wrong)."""
    now = current_app.extensions["escalator"].clock.now()
    user = users().get(name) if name else None
    if user is not None and user.locked(now):
        verify(None, password)          # the same time as any other refusal
        return (f"Too many wrong passwords: this account is locked until {user.locked_until:%H:%M} UTC. "
                "An admin can set a new password with `escalator user passwd`.")
    if not verify(user.password_hash if user and user.active else None, password):
        if user is not None:
            users().failed_login(user.name, now, limit=LOCK_AFTER, lock_for=LOCK_FOR)
        return "Wrong name or password."
    if needs_rehash(user.password_hash):
        user = users().change(user.name, password_hash=hash_password(password))
    return Account(user)


def _start_session(account: Account) -> None:
    session.clear()         # nothing from before the login survives it (no session fixation)
    login_user(account)
    session.permanent = True
    users().logged_in(account.name, current_app.extensions["escalator"].clock.now())


def safe_next(target: str) -> str:
    """`target` when it is a path on this site, else the home page: never an open redirect."""
    parts = urlsplit(target.replace("\\", "/"))
    if not target.startswith("/") or parts.scheme or parts.netloc or target.startswith("//"):
        return url_for("live.index")
    return target


# -- the first admin ----------------------------------------------------------------------------

def setup_link(store: UserStore, base_url: str) -> str | None:
    """A one-time link that creates the first admin, while there is no user at all."""
    if store.count():
        return None
    return f"{base_url}/setup?token={store.secret(SETUP_SECRET)}"


@pages.route("/setup", methods=["GET", "POST"])
def setup():
    token = request.values.get("token", "")
    if users().count() or not hmac.compare_digest(token.encode(), users().secret(SETUP_SECRET).encode()):
        abort(404)
    if request.method == "POST":
        name, password = request.form.get("name", "").strip(), request.form.get("password", "")
        problem = password_problem(password, request.form.get("confirm", "")) or name_problem(name)
        if problem is None:
            try:
                now = current_app.extensions["escalator"].clock.now()
                user = users().add(name, "admin", hash_password(password), now)
            except UserError as exc:
                problem = str(exc)
            else:
                _start_session(Account(user))
                flash(f"Welcome, {name}: you are the first admin.", "info")
                return redirect(url_for("live.index"))
        flash(problem, "error")
    return render_template("setup.html", token=token)
