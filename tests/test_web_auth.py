"""Who gets in: users from the command line, logging in, CSRF, roles on pages and on /api, the headers."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.passwords import hash_password
from plugin.store.users import UserStore

PASSWORD = "a long enough password"


@pytest.fixture
def app(make_app):
    return make_app(api_token="")


def add_user(app, name: str, role: str, password: str = PASSWORD) -> None:
    container = app.extensions["escalator"]
    UserStore(container.store.engine).add(name, role, hash_password(password), container.clock.now())


def csrf_of(client, path: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def log_in(client, name: str, password: str = PASSWORD, next_: str = ""):
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf_of(client),
                                       "next": next_})


# -- users from the command line ------------------------------------------------------------------------

def test_an_admin_is_created_listed_and_changed_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ESCALATOR_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(main, ["user", "add", "ana", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "ana" in runner.invoke(main, ["user", "list"]).output
    assert runner.invoke(main, ["user", "role", "ana", "lead"]).exit_code == 0
    again = runner.invoke(main, ["user", "add", "ana", "--role", "viewer", "--password-stdin"], input=PASSWORD + "\n")
    assert again.exit_code == 2 and "already exists" in again.output and "Traceback" not in again.output
    short = runner.invoke(main, ["user", "add", "bo", "--role", "viewer", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    unknown = runner.invoke(main, ["user", "role", "nobody", "lead"])
    assert unknown.exit_code == 2 and "no user named" in unknown.output


def test_the_stored_password_is_an_argon2_hash_never_the_password(app):
    add_user(app, "ana", "admin")
    stored = UserStore(app.extensions["escalator"].store.engine).get("ana").password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


# -- logging in -------------------------------------------------------------------------------------

def test_logging_in_opens_the_page_asked_for_and_a_wrong_password_does_not(app):
    add_user(app, "ana", "viewer")
    client = app.test_client()
    assert client.get("/", headers={"Accept": "text/html"}).headers["Location"].startswith("/login?next=/")
    wrong = log_in(client, "ana", "not the password")
    assert wrong.status_code == 401 and "Wrong name or password." in wrong.get_data(as_text=True)
    unknown = log_in(client, "nobody")
    assert unknown.status_code == 401 and "Wrong name or password." in unknown.get_data(as_text=True)
    answer = log_in(client, "ana", next_="/tickets/jira/SUP-1")
    assert answer.status_code == 302 and answer.headers["Location"] == "/tickets/jira/SUP-1"


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example", "/\\evil.example", "http:/evil",
                                    "javascript:alert(1)", "evil.example"])
def test_after_login_the_redirect_never_leaves_the_site(app, target):
    add_user(app, "ana", "viewer")
    answer = log_in(app.test_client(), "ana", next_=target)
    assert answer.headers["Location"] == "/"


def test_a_form_without_its_csrf_token_is_refused(app):
    add_user(app, "ana", "viewer")
    client = app.test_client()
    answer = client.post("/login", data={"name": "ana", "password": PASSWORD}, headers={"Accept": "text/html"})
    assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(app):
    add_user(app, "ana", "viewer")
    client = app.test_client()
    log_in(client, "ana")
    assert client.get("/").status_code == 200
    UserStore(app.extensions["escalator"].store.engine).change("ana", password_hash=hash_password("another password!"))
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 302


def test_a_deactivated_user_can_no_longer_log_in(app):
    add_user(app, "ana", "viewer")
    UserStore(app.extensions["escalator"].store.engine).change("ana", active=False)
    assert log_in(app.test_client(), "ana").status_code == 401


def test_the_first_admin_is_made_through_the_one_time_link_which_then_stops_working(app):
    from web.auth import setup_link
    store = UserStore(app.extensions["escalator"].store.engine)
    link = setup_link(store, "")
    client = app.test_client()
    assert client.get("/setup?token=wrong").status_code == 404
    page = client.get(link)
    token = link.split("token=")[1]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    made = client.post("/setup", data={"token": token, "name": "first", "password": PASSWORD, "confirm": PASSWORD,
                                       "csrf_token": csrf})
    assert made.status_code == 302 and store.get("first").role == "admin"
    assert client.get("/").status_code == 200          # logged in as the new admin
    assert setup_link(store, "") is None and app.test_client().get(link).status_code == 404


# -- roles ----------------------------------------------------------------------------------------------

def test_a_trainee_is_refused_the_live_board_with_the_roles_that_may(app):
    add_user(app, "tim", "trainee")
    client = app.test_client()
    log_in(client, "tim")
    answer = client.get("/", headers={"Accept": "text/html"})
    assert answer.status_code == 403 and "admin, lead, trainer, agent, viewer" in answer.get_data(as_text=True)


def test_the_api_takes_the_token_or_a_session_with_the_right_role(make_app):
    app = make_app(api_token="tok-123")
    add_user(app, "vic", "viewer")
    client = app.test_client()
    assert client.get("/api/deliveries").status_code == 401
    assert client.get("/api/deliveries", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/deliveries", headers={"Authorization": "Bearer tok-123"}).status_code == 200
    log_in(client, "vic")
    assert client.get("/api/deliveries").status_code == 200
    refused = client.post("/api/drills", json={"scenario": "x"}, headers={"X-CSRFToken": csrf_of(client, "/")})
    assert refused.status_code == 403 and "trainer" in refused.json["error"]
    assert client.patch("/api/reviews/1", json={}, headers={"X-CSRFToken": csrf_of(client, "/")}).status_code == 403


def test_once_a_user_exists_the_api_of_a_tokenless_install_needs_a_login(app):
    assert app.test_client().get("/api/deliveries").status_code == 200        # a fresh install, on this machine
    add_user(app, "ana", "viewer")
    assert app.test_client().get("/api/deliveries").status_code == 401


def test_a_logged_in_browser_must_send_the_csrf_token_to_change_anything_through_the_api(app):
    add_user(app, "lee", "lead")
    client = app.test_client()
    log_in(client, "lee")
    answer = client.patch("/api/reviews/1", json={"status": "in_review"})
    assert answer.status_code == 400 and "CSRF" in answer.json["error"]


# -- headers and cookies ----------------------------------------------------------------------------

def test_every_page_forbids_inline_scripts_and_framing(app):
    headers = app.test_client().get("/login").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_secure_off_this_machine_and_never_readable_by_scripts(app):
    add_user(app, "ana", "viewer")
    for host, secure in (("127.0.0.1:8080", False), ("escalator.example.com", True)):
        client = app.test_client()
        page = client.get("/login", base_url=f"http://{host}")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        answer = client.post("/login", base_url=f"http://{host}",
                             data={"name": "ana", "password": PASSWORD, "csrf_token": csrf})
        cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("escalator_session="))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and ("Secure" in cookie) == secure, host


def test_an_unknown_page_is_an_html_page_for_a_browser_and_json_for_the_api(app):
    assert "There is no such page." in app.test_client().get("/nowhere", headers={"Accept": "text/html"}).text
    assert app.test_client().get("/api/nowhere").json == {"error": "no such endpoint"}


def test_five_wrong_passwords_lock_the_account_for_a_while_even_against_the_right_one(app):
    add_user(app, "ana", "viewer")
    client = app.test_client()
    for _ in range(5):
        assert log_in(client, "ana", "guess number x").status_code == 401
    locked = log_in(client, "ana")
    assert locked.status_code == 401 and "locked until" in locked.get_data(as_text=True)
    app.extensions["escalator"].clock.advance(timedelta(minutes=16))
    assert log_in(client, "ana").status_code == 302


def test_a_method_not_allowed_says_which_are(app):
    answer = app.test_client().delete("/api/deliveries")
    assert answer.status_code == 405 and set(answer.headers["Allow"].split(", ")) >= {"GET"}
    assert answer.json == {"error": "method not allowed here"}


@pytest.mark.parametrize("host, loopback", [("127.0.0.1:8080", True), ("localhost", True), ("[::1]:8080", True),
                                            ("::1", True), ("escalator.example.com:443", False),
                                            ("127.evil.example", False), ("10.0.0.1", False)])
def test_only_a_loopback_host_gets_a_cookie_without_secure_and_no_name_is_looked_up(host, loopback):
    from web.security import _loopback
    assert _loopback(host) is loopback
