"""Sessions and the login redirect: a cookie from before login never becomes a logged-in one, a logged-out
cookie is dead on the server even when replayed, and `next=` never leads off the site."""
from __future__ import annotations

import re
from functools import cache
from urllib.parse import urljoin, urlsplit

import pytest

from plugin.passwords import hash_password
from plugin.store.users import UserStore

PASSWORD = "a long enough password"
COOKIE = "escalator_session"


@pytest.fixture
def app(make_app):
    app = make_app(api_token="")
    container = app.extensions["escalator"]
    UserStore(container.store.engine).add("ana", "viewer", password_hash(), container.clock.now())
    return app


@cache
def password_hash() -> str:
    """One Argon2 hash for every test here: hashing is slow on purpose."""
    return hash_password(PASSWORD)


def cookie(client) -> str | None:
    found = client.get_cookie(COOKIE)
    return found.value if found else None


def csrf(client) -> str:
    page = client.get("/login", headers={"Accept": "text/html"}, follow_redirects=True).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, next_: str = ""):
    return client.post("/login", data={"name": "ana", "password": PASSWORD, "csrf_token": csrf(client),
                                       "next": next_})


def logged_in_with(app, value: str) -> bool:
    """Whether a browser holding only this session cookie is logged in."""
    replay = app.test_client()
    replay.set_cookie(COOKIE, value)
    return replay.get("/", headers={"Accept": "text/html"}).status_code == 200


def test_the_session_cookie_changes_at_login_and_the_one_from_before_stays_logged_out(app):
    client = app.test_client()
    csrf(client)
    before = cookie(client)
    assert before and not logged_in_with(app, before)

    assert log_in(client).status_code == 302
    after = cookie(client)

    assert after != before and logged_in_with(app, after)
    assert not logged_in_with(app, before)


def test_a_cookie_planted_before_login_does_not_carry_anything_into_the_session(app):
    """An attacker's cookie, handed to a victim who then logs in, still opens nothing for the attacker."""
    attacker = app.test_client()
    csrf(attacker)
    planted = cookie(attacker)
    victim = app.test_client()
    victim.set_cookie(COOKIE, planted)

    log_in(victim)

    assert cookie(victim) != planted and logged_in_with(app, cookie(victim))
    assert not logged_in_with(app, planted)


def test_logging_out_kills_the_session_on_the_server_even_if_its_cookie_is_replayed(app):
    client = app.test_client()
    log_in(client)
    stolen = cookie(client)
    assert logged_in_with(app, stolen)

    answer = client.post("/logout", data={"csrf_token": csrf(client)})

    assert answer.status_code == 302 and not logged_in_with(app, cookie(client) or "")
    assert not logged_in_with(app, stolen)


# -- the login redirect ----------------------------------------------------------------------------

OFF_SITE = ["//evil.example", "https://evil.example/x", "http:evil.example", "/\\evil.example", "\\\\evil.example",
            "javascript:alert(1)", "JavaScript:alert(1)", " //evil.example", "\t//evil.example",
            "%2F%2Fevil.example", "/%2Fevil.example", "/%5Cevil.example", "%2F%5Cevil.example",
            "https:%2F%2Fevil.example", "/\t/evil.example", "/ /evil.example", "///evil.example",
            "evil.example", "data:text/html,<script>alert(1)</script>"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_after_login_next_never_leads_off_the_site(app, target):
    location = log_in(app.test_client(), next_=target).headers["Location"]
    assert_on_site(location, target)


@pytest.mark.parametrize("target", OFF_SITE)
def test_an_already_logged_in_user_is_never_sent_off_the_site_either(app, target):
    client = app.test_client()
    log_in(client)
    answer = client.get("/login", query_string={"next": target})
    assert answer.status_code == 302
    assert_on_site(answer.headers["Location"], target)


def assert_on_site(location: str, target: str) -> None:
    """A browser resolves the Location against our own origin and stays on it (as browsers do, tabs and line
    breaks are dropped, outer spaces trimmed and a backslash read as a slash)."""
    as_browser = re.sub(r"[\t\n\r]", "", location).strip().replace("\\", "/")
    assert not as_browser.startswith("//"), (target, location)
    resolved = urlsplit(urljoin("http://escalator.test/", as_browser))
    assert (resolved.scheme, resolved.netloc) == ("http", "escalator.test"), (target, location)


def test_a_path_on_the_site_is_kept(app):
    assert log_in(app.test_client(), next_="/reviews?status=open").headers["Location"] == "/reviews?status=open"
