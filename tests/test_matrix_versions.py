"""A ticket keeps the matrix it was first evaluated under; reloads affect new tickets only, and a
broken matrix is refused while the last good one keeps running."""
import os
import shutil
import signal
import subprocess
import time

import pytest
import requests

from plugin import bootstrap
from plugin.domain.ticket import EventKind, TicketEvent

from .conftest import RULES, deliver_event
from .test_serve import decided, serve  # noqa: F401 - the fixture
from .test_webhooks import outage_payload

OLD = "    then: {severity: critical, level: L1, labels: [escalation, outage]}"
NEW = "    then: {severity: critical, level: L2, labels: [escalation, outage]}"


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


def outage(key):
    return TicketEvent("jira", EventKind.CREATED, key, summary="Dashboard down", customer_tier="enterprise")


@pytest.fixture
def handle(stand_in_parser):
    """Deliver an event through intake and the processor; the ticket as decided."""
    def deliver(container, event):
        assert deliver_event(container, event) == 1
        return container.store.load([("jira", event.key)])[("jira", event.key)].state
    return deliver


def test_a_reload_applies_to_new_tickets_only(settings_for, clock, rules, handle):
    container = bootstrap.build(settings_for(rules=str(rules)), clock=clock, clients={})
    assert handle(container, outage("OLD-1")).level == "L1"
    edit(rules, OLD, NEW)
    assert container.matrix.reload() == []
    assert handle(container, outage("NEW-1")).level == "L2"
    again = handle(container, TicketEvent("jira", EventKind.COMMENTED, "OLD-1", summary="Dashboard down",
                                          customer_tier="enterprise"))
    assert again.level == "L1"        # OLD-1 is still decided by the matrix it started under


def test_an_invalid_reload_is_refused_and_the_old_matrix_keeps_running(settings_for, clock, rules, handle):
    container = bootstrap.build(settings_for(rules=str(rules)), clock=clock, clients={})
    version = container.matrix().matrix.version
    edit(rules, "ack: 15m", "ack: 15 mins")
    problems = container.matrix.reload()
    assert problems and "not a duration" in str(problems[0])
    assert container.matrix().matrix.version == version
    assert handle(container, outage("SUP-1")).severity == "critical"


def test_a_restart_with_broken_rules_runs_the_last_good_matrix(settings_for, clock, rules):
    settings = settings_for(rules=str(rules))
    version = bootstrap.build(settings, clock=clock, clients={}).matrix().matrix.version
    edit(rules, "ack: 15m", "ack: 15 mins")
    restarted = bootstrap.build(settings, clock=clock, clients={})
    assert restarted.matrix().matrix.version == version
    assert restarted.matrix.problems


def test_pinned_tickets_survive_a_restart_after_the_matrix_changed(settings_for, clock, rules, handle):
    settings = settings_for(rules=str(rules))
    first = bootstrap.build(settings, clock=clock, clients={})
    handle(first, outage("OLD-1"))
    edit(rules, OLD, NEW)
    restarted = bootstrap.build(settings, clock=clock, clients={})
    assert handle(restarted, outage("NEW-1")).level == "L2"
    assert handle(restarted, TicketEvent("jira", EventKind.COMMENTED, "OLD-1", summary="Dashboard down",
                                         customer_tier="enterprise")).level == "L1"


def test_sighup_reloads_the_running_server_and_refuses_a_broken_matrix(serve, rules):  # noqa: F811
    base = serve(ESCALATOR_RULES=str(rules))
    first = requests.get(base + "/healthz", timeout=5).json()["matrix_version"]
    edit(rules, OLD, NEW)
    _hup(base)
    second = _wait_for_version(base, lambda v: v != first)
    answer = requests.post(base + "/webhooks/jira", json=outage_payload("NEW-1"), timeout=10).json()
    assert answer["status"] == "accepted"
    assert decided(base, "NEW-1")["level"] == "L2"
    edit(rules, "ack: 15m", "ack: 15 mins")
    _hup(base)
    time.sleep(3)
    assert requests.get(base + "/healthz", timeout=5).json()["matrix_version"] == second


def _hup(base):
    """SIGHUP to the gunicorn master, the `escalator serve` process itself."""
    port = base.rsplit(":", 1)[1]
    found = subprocess.run(["pgrep", "-of", f"escalator serve --port {port}"], capture_output=True, text=True)
    os.kill(int(found.stdout.split()[0]), signal.SIGHUP)


def _wait_for_version(base, accept, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            version = requests.get(base + "/healthz", timeout=5).json()["matrix_version"]
            if accept(version):
                return version
        except (requests.ConnectionError, requests.Timeout):     # not listening yet, or still booting
            pass
        time.sleep(0.3)
    pytest.fail("the server did not pick up the new matrix")


def test_serve_reload_picks_up_a_changed_matrix_without_a_signal(settings_for, clock, rules):
    container = bootstrap.build(settings_for(rules=str(rules)), clock=clock, clients={})
    first = container.matrix().matrix.version
    stop = bootstrap.watch_rules(container.matrix, interval=0.05)
    try:
        edit(rules, OLD, NEW)
        deadline = time.monotonic() + 5
        while container.matrix().matrix.version == first and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert container.matrix().matrix.version != first
