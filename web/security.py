"""Headers, cookies and CSRF for every response: ticket text is customer-controlled, so the pages run
no script but our own files and every state-changing form carries a token."""
from __future__ import annotations

import ipaddress
from datetime import timedelta

from flask import Flask, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": "same-origin", "Cross-Origin-Opener-Policy": "same-origin"}
# Machine-to-machine routes: the webhooks are signed.
NOT_FORMS = ("/webhooks/",)
SESSION_LIFETIME = timedelta(hours=12)

csrf = CSRFProtect()


class SessionInterface(SecureCookieSessionInterface):
    """Session cookies marked Secure unless the browser talks plain HTTP to this very machine
    (`make run`): over a network a session only ever travels encrypted."""

    def get_cookie_secure(self, app) -> bool:
        return request.is_secure or not _loopback(request.host)


def _loopback(host: str) -> bool:
    """Whether the Host header names this machine: `localhost` or a loopback address, read without a
    DNS lookup (this runs on every response that sets a cookie)."""
    if host.startswith("["):            # [::1] or [::1]:8080
        name = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:          # name:port
        name = host.split(":", 1)[0]
    else:                               # a name, an IPv4 address or a bare IPv6 address
        name = host
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def init_app(app: Flask) -> None:
    settings = app.extensions["escalator"].settings
    if settings.trusted_proxies:      # behind a reverse proxy: the client's scheme and address come from it
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    app.session_interface = SessionInterface()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="escalator_session", PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
                      WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None,
                      WTF_CSRF_HEADERS=["X-CSRFToken"])
    csrf.init_app(app)
    app.before_request(_protect_forms)
    app.after_request(_secure_headers)
    app.register_error_handler(CSRFError, _csrf_failed)


def _protect_forms():
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith(NOT_FORMS):
        return
    if request.path.startswith("/api/") and not _session_user():
        return      # a token, or an open fresh install: no ambient credential for a forged request to borrow
    csrf.protect()


def _session_user() -> bool:
    from flask_login import current_user
    return current_user.is_authenticated and not request.headers.get("Authorization")


def _secure_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(("/api/", "/login", "/setup")) or response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _csrf_failed(exc: CSRFError):
    message = ("This form expired or did not come from an Escalator page (missing or wrong CSRF token). "
               "Reload the page and try again.")
    if wants_html():
        return render_template("error.html", code=400, message=message), 400
    return {"error": message}, 400


def wants_html() -> bool:
    """A browser asking for a page (not the API, the webhooks or a script)."""
    if request.path.startswith(("/api/", "/webhooks/", "/healthz", "/metrics")):
        return False
    return request.accept_mimetypes.accept_html
