"""Every route of the app, enumerated from its url_map, held to two rules: it lets in exactly the roles its
declared permission names (plus the API token, never anyone anonymous), and if it changes anything it
refuses a browser session's request without the CSRF token. A route added later is checked the same way;
one that declares no permission fails here."""
from __future__ import annotations

import re
from functools import cache

import pytest

from plugin.access import PERMISSIONS, ROLES
from plugin.passwords import hash_password
from plugin.store.users import UserStore
from web.openapi import spec

TOKEN = "route-test-token-0123456789"
WEBHOOK_SECRET = "route-test-webhook-secret"
PASSWORD = "a long enough password"
CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# Routes anyone may call, and why.
PUBLIC = {
    "/login": "where one logs in", "/logout": "ends one's own session (CSRF-protected)",
    "/setup": "the first admin's one-time link, 404 once a user exists",
    "/healthz": "load balancers probe it", "/metrics": "Prometheus scrapes it",
    "/static/<path:filename>": "our own CSS and JavaScript",
    "/webhooks/<platform>": "Jira and Zendesk call it; each delivery is signed",
}
# Routes a browser session cannot reach with a form, so no CSRF token: the webhooks take no cookie and check
# a signature instead.
NO_CSRF = {"/webhooks/<platform>": "signed machine-to-machine deliveries; no session is read"}
# A value for each URL variable; any other name gets "1".
SAMPLES = {"platform": "jira", "key": "SUP-1", "kind": "md", "name": "trainee-1", "filename": "app.css"}
DENIED = (401, 403)


@pytest.fixture
def app(make_app):
    app = make_app(api_token=TOKEN, jira_webhook_secret=WEBHOOK_SECRET, zendesk_webhook_secret=WEBHOOK_SECRET)
    container = app.extensions["escalator"]
    users = UserStore(container.store.engine)
    for role in ROLES:
        users.add(f"{role}-1", role, password_hash(), container.clock.now())
    return app


@cache
def password_hash() -> str:
    """One Argon2 hash for every user of every test here: hashing is slow on purpose."""
    return hash_password(PASSWORD)


def routes(app) -> list[tuple[str, str, str]]:
    """(rule, method, URL) of every route the app serves."""
    found = []
    for rule in app.url_map.iter_rules():
        url = rule.build({name: SAMPLES.get(name, "1") for name in rule.arguments})[1]
        found += [(rule.rule, method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(found)


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def declared(app, rule: str, method: str) -> str | None:
    """The permission a route declares: `requires(...)` on the view, or `x-permission` in the OpenAPI
    description of /api (both, when a route has both, must agree). "public" for the PUBLIC table."""
    if rule in PUBLIC:
        return "public"
    endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == rule and method in r.methods)
    on_view = getattr(app.view_functions[endpoint], "permission", None)
    operation = spec()["paths"].get(openapi_path(rule), {}).get(method.lower(), {})
    if operation.get("security") == []:
        return "public"
    in_spec = operation.get("x-permission")
    if on_view and in_spec and on_view != in_spec:
        raise AssertionError(f"{method} {rule}: requires({on_view}) but x-permission {in_spec}")
    return on_view or in_spec


def logged_in(app, role: str):
    client = app.test_client()
    answer = client.post("/login", data={"name": f"{role}-1", "password": PASSWORD, "csrf_token": csrf(client)})
    assert answer.status_code == 302, f"{role} could not log in"
    return client


def csrf(client) -> str:
    # A logged-in user is sent from /login to the live board (or a 403 page); the logout form has the token.
    page = client.get("/login", headers={"Accept": "text/html"}, follow_redirects=True).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def call(client, method: str, url: str, **headers):
    """The answer, read and closed (a static file stays open otherwise)."""
    answer = client.open(url, method=method, headers={"Accept": "text/html", **headers})
    answer.get_data()
    answer.close()
    return answer


def refused_csrf(answer) -> bool:
    return answer.status_code == 400 and "missing or wrong CSRF token" in answer.get_data(as_text=True)


def let_in(answer) -> bool:
    """Whether the guards let the request through to the view (a 404 or a 400 from the view counts)."""
    to_login = answer.status_code == 302 and "/login" in answer.headers.get("Location", "")
    return answer.status_code not in DENIED and not to_login and not refused_csrf(answer)


# -- authorization, by role -------------------------------------------------------------------------

def undeclared(app) -> list[str]:
    return [f"{method} {rule}" for rule, method, _ in routes(app) if not declared(app, rule, method)]


def test_every_route_declares_a_permission(app):
    assert undeclared(app) == [], ("guard these with requires(PERMISSION), or x-permission in web/openapi, "
                                   "or add them to PUBLIC with a reason")


def test_a_route_added_without_a_permission_is_caught_and_its_form_still_needs_the_token(app):
    app.add_url_rule("/new-page", "new_page", lambda: "changed", methods=["GET", "POST"])
    assert undeclared(app) == ["GET /new-page", "POST /new-page"]
    assert refused_csrf(logged_in(app, "admin").post("/new-page", headers={"Accept": "text/html"}))


def test_every_api_operation_documents_its_permission_for_clients(app):
    """`x-permission` tells API users which role they need; it must be there even where requires() guards."""
    missing = [f"{method} {rule}" for rule, method, _ in routes(app)
               if rule.startswith("/api/") and declared(app, rule, method) != "public"
               and "x-permission" not in spec()["paths"].get(openapi_path(rule), {}).get(method.lower(), {})]
    assert missing == [], "add x-permission to these operations in web/openapi/<area>.yaml"


def test_each_route_lets_in_exactly_the_roles_its_permission_names(app):
    callers = {role: logged_in(app, role) for role in ROLES} | {"anonymous": app.test_client()}
    tokens = {caller: csrf(client) for caller, client in callers.items()}
    wrong, checked = [], 0
    for rule, method, url in routes(app):
        permission = declared(app, rule, method)
        if permission is None or rule in ("/login", "/setup", "/logout"):   # logging in and out: tested apart
            continue
        for caller, client in callers.items():
            expected = permission == "public" or caller in PERMISSIONS[permission]
            answer = call(client, method, url, **{"X-CSRFToken": tokens[caller]})
            checked += 1
            if let_in(answer) != expected:
                wrong.append(f"{caller} {method} {url}: {answer.status_code}, expected {expected and 'in' or 'out'}")
    assert checked > 300 and wrong == [], "\n".join(wrong)


def test_the_api_token_opens_every_api_route_and_a_wrong_one_none(app):
    client, wrong = app.test_client(), []
    for rule, method, url in routes(app):
        if not rule.startswith("/api/") or declared(app, rule, method) == "public":
            continue
        right = call(client, method, url, Authorization=f"Bearer {TOKEN}")
        bad = call(client, method, url, Authorization=f"Bearer {TOKEN}x")
        if not let_in(right) or bad.status_code != 401:
            wrong.append(f"{method} {url}: {right.status_code} with the token, {bad.status_code} with a wrong one")
    assert wrong == [], "\n".join(wrong)


def test_the_token_opens_no_page(app):
    client = app.test_client()
    pages = [(method, url) for rule, method, url in routes(app)
             if not rule.startswith("/api/") and declared(app, rule, method) != "public"]
    let_through = [f"{method} {url}" for method, url in pages
                   if let_in(call(client, method, url, Authorization=f"Bearer {TOKEN}"))]
    assert pages and let_through == []


# -- CSRF --------------------------------------------------------------------------------------------

def recording_views(app) -> list[str]:
    """Wrap every view so a test can tell whether a request reached one; the endpoints reached."""
    reached: list[str] = []
    for endpoint, view in list(app.view_functions.items()):
        def recorded(*args, _endpoint=endpoint, _view=view, **kwargs):
            reached.append(_endpoint)
            return _view(*args, **kwargs)
        app.view_functions[endpoint] = recorded
    return reached


def changing_routes(app) -> list[tuple[str, str, str]]:
    return [(rule, method, url) for rule, method, url in routes(app) if method in CHANGING and rule not in NO_CSRF]


def test_a_form_or_api_change_without_the_csrf_token_never_reaches_its_view(app):
    reached, wrong = recording_views(app), []
    client = logged_in(app, "admin")            # no view runs, so even /logout leaves it logged in
    reached.clear()
    for _rule, method, url in changing_routes(app):
        for token in ("", "forged-token"):
            answer = client.open(url, method=method, headers={"Accept": "text/html", "X-CSRFToken": token},
                                 data={"csrf_token": token})
            if not refused_csrf(answer) or reached:
                wrong.append(f"{method} {url} with {token or 'no token'!r}: {answer.status_code}, reached {reached}")
            reached.clear()
    assert len(changing_routes(app)) > 15 and wrong == [], "\n".join(wrong)


def test_the_same_changes_with_the_session_s_token_reach_their_view(app):
    reached, missed = recording_views(app), []
    client = logged_in(app, "admin")
    for _rule, method, url in sorted(changing_routes(app), key=lambda route: route[0] == "/logout"):  # it last
        token = csrf(client)
        reached.clear()
        answer = call(client, method, url, **{"X-CSRFToken": token})
        # A guard may answer 404 for a drill that does not exist before any view runs; that is past CSRF.
        if refused_csrf(answer) or not (reached or answer.status_code == 404):
            missed.append(f"{method} {url}: {answer.status_code}")
        reached.clear()
    assert missed == [], "\n".join(missed)


def test_a_json_error_says_the_csrf_token_is_missing(app):
    answer = logged_in(app, "lead").patch("/api/reviews/1", json={"status": "in_review"})
    assert answer.status_code == 400 and "CSRF" in answer.json["error"]


@pytest.mark.parametrize("platform", ["jira", "zendesk"])
def test_the_webhooks_need_no_csrf_token_because_a_session_gets_nothing_there(app, platform):
    assert set(NO_CSRF) == {"/webhooks/<platform>"}       # a new exemption needs its own proof here
    answer = logged_in(app, "admin").post(f"/webhooks/{platform}", json={"webhookEvent": "jira:issue_created"})
    assert answer.status_code == 401
