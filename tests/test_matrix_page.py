"""`/matrix` and `/api/matrix` in the Flask test client: the table of the matrix in force, whether rules/
loads and whether a reload was refused, the stored versions and the difference between two, with every
JSON answer checked against the OpenAPI description and everything from the YAML escaped."""
import re
import shutil
from datetime import timedelta

import pytest

from plugin.passwords import hash_password

from .conftest import RULES, START
from .openapi_check import check_response
from .test_webhooks import SECRET, outage_payload, post_jira

PASSWORD = "correct horse battery"
OLD_ACK, NEW_ACK = "critical: {ack: 15m", "critical: {ack: 10m"


@pytest.fixture
def rules(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def edit(rules, old, new):
    path = rules / "matrix.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def app(make_app, rules):
    from web.matrix_page import matrix
    app = make_app(rules=str(rules), api_token="", jira_webhook_secret=SECRET)
    if matrix.name not in app.blueprints:       # until the dashboard lists the page itself
        app.register_blueprint(matrix)
    return app


def client_as(app, role):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT"] = "text/html,application/xhtml+xml"
    if role:
        app.extensions["escalator.users"].add(role, role, hash_password(PASSWORD), START)
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        answer = client.post("/login", data={"name": role, "password": PASSWORD, "csrf_token": token})
        assert answer.status_code == 302, answer.text
    return client


@pytest.fixture
def viewer(app):
    return client_as(app, "viewer")


def second_version(app, rules, clock, old=OLD_ACK, new=NEW_ACK):
    """Edit rules/ and reload an hour later: two stored versions, the new one in force; (old, new)."""
    container = app.extensions["escalator"]
    before = container.matrix().matrix.version
    edit(rules, old, new)
    clock.advance(timedelta(hours=1))
    assert container.matrix.reload() == []
    return before, container.matrix().matrix.version


def valid(response):
    """The answer, after checking it against the merged OpenAPI description."""
    check_response(response, "GET", response.request.full_path.rstrip("?"))
    return response.get_json()


# -- the page -----------------------------------------------------------------------------------------

def test_the_page_shows_levels_by_severities_with_the_cells_of_the_matrix_in_force(app, viewer):
    page = viewer.get("/matrix")
    assert page.status_code == 200
    html = page.text
    version = app.extensions["escalator"].matrix().matrix.version
    assert f"Escalation matrix 2026.11 <small>version <code>{version}</code>" in html
    cell = re.search(r'<td class="cell" data-severity="critical" data-level="L1">(.*?)</td>', html, re.S).group(1)
    assert re.search(r"ack</span>\s*<strong>15m</strong>", cell)
    assert "every <strong>30m</strong>" in cell
    assert "ack.md.j2</code> <small>repeats every 30m</small>" in cell
    assert "EU personal-data incident</strong>: owner → eu-privacy; + regulator_notice 3d (24x7)" in cell
    assert "payments → payments-eng" in html and "otherwise → platform-sre" in html
    assert "<em>security incident goes to security</em> → security;" in html
    assert "the event is reopened and the current severity is one of critical, high" in html
    assert 'href="/static/matrix.css"' in html


def test_the_page_says_rules_load_and_are_the_version_in_force(viewer):
    html = viewer.get("/matrix").text
    assert "✔ loads</span> and is the version in force" in html
    assert "✔ not refused" in html
    assert "Only one version has been live" in html


def test_a_broken_rules_directory_is_shown_with_each_error_and_its_path_into_the_yaml(app, viewer, rules):
    edit(rules, OLD_ACK, "critical: {ack: 15 mins")
    assert app.extensions["escalator"].matrix.reload()      # refused
    html = viewer.get("/matrix").text
    assert "✖ does not load" in html and "✖ refused" in html
    assert "&#39;15 mins&#39; is not a duration" in html
    assert '<code class="yaml-path">timers.critical.ack</code>' in html


def test_rules_that_load_but_are_not_live_yet_link_to_what_a_reload_would_change(app, viewer, rules):
    current = app.extensions["escalator"].matrix().matrix.version
    edit(rules, OLD_ACK, NEW_ACK)
    html = viewer.get("/matrix").text
    assert "is not live yet" in html
    assert f'href="/matrix/diff?from={current}&amp;to=rules"' in html
    diff = viewer.get(f"/matrix/diff?from={current}&to=rules").text
    assert "critical ack" in diff and "15m (24x7)" in diff and "10m (24x7)" in diff


def test_picking_two_versions_shows_the_change_in_meaning_and_the_lines(app, viewer, rules, clock):
    old, new = second_version(app, rules, clock)
    index = viewer.get("/matrix").text
    assert f'<option value="{old}" selected>' in index and f'<option value="{new}" selected>' in index
    since = re.sub(r"\s+", " ", re.search(r'<p class="since">(.*?)</p>', index, re.S).group(1))
    assert since.startswith(f"Since the previous version <code>{old}</code> (2026.11): <strong>1</strong> change in")
    assert f'1 file edited · <a href="/matrix/diff?from={old}&amp;to={new}">see what changed</a>' in since
    html = viewer.get(f"/matrix/diff?from={old}&to={new}").text
    assert "What changed in meaning <small>(1)</small>" in html
    assert re.search(r"<strong>critical ack</strong>.*?15m \(24x7\).*?10m \(24x7\)", html, re.S)
    line = next(n for n, text in enumerate((rules / "matrix.yaml").read_text().splitlines(), 1) if NEW_ACK in text)
    assert (f'<tr class="del"><td class="num">{line}</td><td class="num"></td><td class="mark">−</td>'
            '<td class="code">  critical: {ack: 15m') in html
    assert (f'<tr class="add"><td class="num"></td><td class="num">{line}</td><td class="mark">+</td>'
            '<td class="code">  critical: {ack: 10m') in html


def test_the_diff_defaults_to_the_previous_version_against_the_current_one(app, viewer, rules, clock):
    old, new = second_version(app, rules, clock)
    html = viewer.get("/matrix/diff").text
    assert f"from <code>{old}</code> (2026.11) to <code>{new}</code> (2026.11)" in html


def test_an_unknown_version_is_a_404_page(viewer):
    answer = viewer.get("/matrix/diff?from=nope&to=<script>")
    assert answer.status_code == 404
    assert "<script>" not in answer.text and "No stored matrix has version" in answer.text


def test_text_from_the_matrix_and_templates_is_escaped(app, viewer, rules, clock):
    hostile = '<script>alert(1)</script> {{7*7}}'
    old, new = second_version(app, rules, clock, "name: Frontline triage", f"name: \"Frontline {hostile}\"")
    (rules / "templates" / "ack.md.j2").write_text("<img src=x onerror=alert(2)>\n")
    index, diff = viewer.get("/matrix").text, viewer.get(f"/matrix/diff?from={old}&to={new}").text
    for html in (index, diff):
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}}" in html
    rules_diff = viewer.get(f"/matrix/diff?from={new}&to=rules").text
    assert "&lt;img src=x onerror=alert(2)&gt;" in rules_diff and "<img src=x" not in rules_diff


@pytest.mark.parametrize("role, status", [("trainee", 403), (None, 302)])
def test_only_roles_that_view_may_read_the_matrix(app, role, status):
    answer = client_as(app, role).get("/matrix")
    assert answer.status_code == status
    if status == 302:
        assert answer.headers["Location"].startswith("/login?next=/matrix")


# -- the API ------------------------------------------------------------------------------------------

def test_api_matrix_is_the_table_and_the_validation_state(viewer):
    body = valid(viewer.get("/api/matrix"))
    assert (body["label"], body["current"], body["problems"]) == ("2026.11", True, [])
    assert body["validation"]["loads"] is True and body["validation"]["pending"] is False
    critical_l1 = body["table"]["rows"][0]["cells"][0]
    assert (critical_l1["severity"], critical_l1["level"], critical_l1["timers"][0]["duration"]) == ("critical", "L1",
                                                                                                     "15m")


def test_api_versions_and_diff(app, viewer, rules, clock):
    old, new = second_version(app, rules, clock)
    versions = valid(viewer.get("/api/matrix/versions"))
    assert versions["current"] == new
    assert [(v["version"], v["current"], v["activated_at"]) for v in versions["versions"]] == [
        (new, True, (START + timedelta(hours=1)).isoformat()), (old, False, START.isoformat())]
    diff = valid(viewer.get("/api/matrix/diff"))
    assert (diff["from"]["version"], diff["to"]["version"]) == (old, new)
    assert diff["changes"] == [{"section": "timers", "subject": "critical ack", "change": "changed",
                                "before": "15m (24x7)", "after": "10m (24x7)"}]
    assert [f["path"] for f in diff["files"]] == ["matrix.yaml"]


@pytest.mark.parametrize("query", ["", "?from=0123456789ab"])
def test_api_diff_without_two_versions_is_a_404_that_says_why(viewer, query):
    answer = viewer.get(f"/api/matrix/diff{query}")
    assert answer.status_code == 404
    assert valid(answer)["error"]


def test_api_matrix_refuses_a_trainee_with_a_403(app):
    answer = client_as(app, "trainee").get("/api/matrix")
    assert answer.status_code == 403 and "viewer" in answer.get_json()["error"]


def test_each_version_is_listed_with_its_own_label(app, viewer, rules, clock):
    old, new = second_version(app, rules, clock, 'version: "2026.11"', 'version: "2026.12"')
    versions = valid(viewer.get("/api/matrix/versions"))["versions"]
    assert [(v["version"], v["label"]) for v in versions] == [(new, "2026.12"), (old, "2026.11")]
    assert valid(viewer.get("/api/matrix/diff"))["changes"] == []       # a new label changes no decision


def test_a_stored_version_that_no_longer_loads_is_compared_as_text_only(app, viewer, clock):
    container = app.extensions["escalator"]
    current = container.matrix().matrix.version
    with container.store.reading() as tx:
        files = tx.matrix_files(current)
    broken = {**files, "matrix.yaml": files["matrix.yaml"].replace("ack: 15m", "ack: soon", 1)}
    with container.store.transaction() as tx:
        tx.remember_matrix("0badbadbad00", broken, clock.now() - timedelta(days=1))
    body = valid(viewer.get(f"/api/matrix/diff?from=0badbadbad00&to={current}"))
    assert body["changes"] == []
    assert [(p["file"], p["path"]) for p in body["problems"]] == [("matrix.yaml", "timers.critical.ack")]
    assert [f["path"] for f in body["files"]] == ["matrix.yaml"]
    html = viewer.get("/matrix/diff").text          # the broken one is the previous version
    assert "A side no longer loads as a matrix" in html and "Not comparable in meaning" in html


def test_an_earlier_version_can_be_read_as_a_table_with_a_note_that_it_is_not_in_force(app, viewer, rules, clock):
    old, new = second_version(app, rules, clock)
    html = viewer.get(f"/matrix?version={old}").text
    assert f"version <code>{old}</code>" in html and "This is an earlier version, not the matrix in force" in html
    cell = re.search(r'<td class="cell" data-severity="critical" data-level="L1">(.*?)</td>', html, re.S).group(1)
    assert re.search(r"ack</span>\s*<strong>15m</strong>", cell)
    assert f'href="/matrix/diff?from={old}&amp;to={new}"' in html
    body = valid(viewer.get(f"/api/matrix?version={old}"))
    assert (body["version"], body["current"]) == (old, False)
    assert body["table"]["rows"][0]["cells"][0]["timers"][0]["duration"] == "15m"
    assert body["validation"]["in_force"] == new
    assert viewer.get("/matrix?version=0123456789ab").status_code == 404
    assert valid(viewer.get("/api/matrix?version=0123456789ab")).get("error")


def test_rules_that_are_not_live_yet_can_be_read_before_a_reload(app, viewer, rules):
    edit(rules, OLD_ACK, NEW_ACK)
    html = viewer.get("/matrix?version=rules").text
    assert "rules/ as it stands" in html and "not the matrix in force" in html
    cell = re.search(r'<td class="cell" data-severity="critical" data-level="L1">(.*?)</td>', html, re.S).group(1)
    assert re.search(r"ack</span>\s*<strong>10m</strong>", cell)


def test_a_stored_version_that_no_longer_loads_is_read_as_its_problems(app, viewer, clock):
    container = app.extensions["escalator"]
    with container.store.reading() as tx:
        files = tx.matrix_files(container.matrix().matrix.version)
    with container.store.transaction() as tx:
        tx.remember_matrix("0badbadbad01", {**files, "matrix.yaml": "severities: [\n"}, clock.now())
    html = viewer.get("/matrix?version=0badbadbad01").text
    assert "This version no longer loads" in html and "YAML syntax" in html
    body = valid(viewer.get("/api/matrix?version=0badbadbad01"))
    assert body["table"] is None and body["problems"][0]["file"] == "matrix.yaml"


def test_each_version_counts_the_tickets_it_decides_and_how_many_are_still_open(app, viewer, rules, clock):
    from sqlalchemy import update

    from plugin.store.schema import timers
    for n in (1, 2):
        post_jira(viewer, outage_payload(f"SUP-{n}"), delivery=f"d-{n}")
    old, new = second_version(app, rules, clock)
    post_jira(viewer, outage_payload("SUP-3"), delivery="d-3")
    with app.extensions["escalator"].store.transaction() as tx:      # SUP-2 is answered: its clocks stop
        tx.conn.execute(update(timers).where(timers.c.key == "SUP-2").values(state="stopped"))
    versions = valid(viewer.get("/api/matrix/versions"))["versions"]
    assert [(v["version"], v["tickets"], v["open_tickets"]) for v in versions] == [(new, 1, 1), (old, 2, 1)]
    assert re.search(r'<td class="num">2 <small>\(1 open\)</small></td>', viewer.get("/matrix").text)
