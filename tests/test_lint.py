"""`escalator check` lint: legal matrices that are almost certainly mistakes."""
import shutil
from pathlib import Path

import pytest

from plugin.engine.limits import engine_problems
from plugin.matrix.lint import lint
from plugin.matrix.loader import read_matrix

from .conftest import RULES

BAD = Path(__file__).resolve().parent / "bad_matrices"

SHADOWED = """
  - name: enterprise outage on payments
    when:
      all:
        - {field: customer.tier, eq: enterprise}
        - {field: text, matches: "(?i)\\\\b(outage|down|unavailable|not loading|5\\\\d\\\\d error)\\\\b"}
        - {field: product_area, eq: payments}
    then: {severity: high, labels: [outage]}
"""
UNREACHABLE = """
  - name: tier is two things at once
    when: {all: [{field: customer.tier, eq: enterprise}, {field: customer.tier, eq: pro}]}
    then: {severity: high}
"""
OVERLAPPING = """
  - name: EU security incident
    type: regional_compliance
    when: {all: [{field: customer.region, eq: EU}, {field: labels, contains: security}]}
    then: {owner: security}
"""


def lint_with(tmp_path, old, new):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    text = (rules / "matrix.yaml").read_text()
    assert old in text
    (rules / "matrix.yaml").write_text(text.replace(old, new, 1))
    matrix, source = read_matrix(rules)
    assert matrix is not None, source.problems
    return lint(matrix, source)


def test_the_shipped_matrix_has_no_findings():
    matrix, source = read_matrix(RULES)
    assert lint(matrix, source) == []


@pytest.mark.parametrize("old, new, severity, message, path", [
    ("\nexceptions:\n", SHADOWED + "\nexceptions:\n", "warning",
     "trigger 'enterprise outage on payments' is shadowed by 'enterprise outage is critical'", "triggers[11]"),
    ("\nexceptions:\n", UNREACHABLE + "\nexceptions:\n", "warning",
     "trigger 'tier is two things at once' can never match: customer.tier cannot satisfy", "triggers[11]"),
    ("\ncommunications:\n", OVERLAPPING + "\ncommunications:\n", "warning",
     "exceptions 'EU personal-data incident' and 'EU security incident' can both match one ticket and set owner "
     "differently", "exceptions[2]"),
    ("critical: {ack: 15m, plan: 2h,", "critical: {ack: 15m, plan: 8h,", "warning",
     "critical's plan timer (8:00:00) is longer than high's (4:00:00), the next severity down", "timers.critical.plan"),
    ("critical: {ack: 15m,", "critical: {ack: 3h,", "warning",
     "critical: ack (3:00:00) is longer than plan (2:00:00)", "timers.critical"),
    ("    teams: [exec-escalations]\n    owner: vp-support\n", "    teams: [exec-escalations]\n", "error",
     "level L3 (Executive decision) has no owner", "levels.L3"),
    ("channel: email, template: exec_brief.md.j2, sensitive: true", "channel: slack, template: exec_brief.md.j2, "
     "sensitive: true", "error", "a sensitive message (exec_brief.md.j2) is sent on the public channel slack",
     "communications.L3"),
    ("  low:      {ack: 1d, calendar: business-us, pause_when_waiting: true}\n", "", "warning",
     "severity low has no timers", "timers"),
])
def test_lint_finds(tmp_path, old, new, severity, message, path):
    problems = lint_with(tmp_path, old, new)
    found = [p for p in problems if message in p.message]
    assert found, [str(p) for p in problems]
    assert found[0].severity == severity
    assert found[0].path == path
    assert found[0].fix
    assert found[0].line is not None


def test_a_template_using_an_unknown_name_fails_check(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "templates" / "ack.md.j2").write_text("Hello {{ ticket.requester_name }}\n")
    matrix, source = read_matrix(rules)
    problems = lint(matrix, source)
    assert [p.message for p in problems] == [
        "template ack.md.j2 does not render: 'dict object' has no attribute 'requester_name'"]


def test_a_matrix_past_the_durable_limits_is_rejected_for_durable_only(tmp_path, monkeypatch):
    from plugin.engine import durable
    monkeypatch.setattr(durable, "MAX_RULES", 10)
    matrix, source = read_matrix(RULES)
    assert lint(matrix, source) == []       # the matrix itself is fine: the limit is the engine's
    assert [p.message for p in engine_problems(matrix, "durable")] == [
        "19 rules exceed the durable engine's limit of 10"]
    assert engine_problems(matrix, "python") == []


def test_a_timer_that_nothing_can_stop_is_an_error_naming_the_timer_and_what_would_stop_it():
    matrix, source = read_matrix(BAD / "timer_nothing_stops.yaml")
    assert matrix is not None, source.problems      # a valid matrix: only the lint catches it

    [problem] = lint(matrix, source)

    assert problem.severity == "error"
    assert problem.message == ("timer 'regulator_notice' (started by exception 'EU personal data') can never be "
                               "stopped: no stop rule lists it, so it misses its 3d target on every ticket that "
                               "starts it")
    assert (problem.path, problem.line) == ("exceptions[0].then.add_timers.regulator_notice", 29)
    assert "stop_timers whose `timers` list names regulator_notice" in problem.fix
    assert "add it to the timers of 'ticket resolved'" in problem.fix


@pytest.mark.parametrize("old, new, message", [
    pytest.param("    timers: [regulator_notice]\n", "    timers: [ack]\n",
                 "timer 'regulator_notice' (started by exception 'EU personal-data incident') can never be stopped: "
                 "no stop rule lists it", id="the shipped regulator notice without its stop rule"),
    pytest.param("timers: [rca]\n    when: {all: [{field: event, eq: commented},",
                 "timers: [rca]\n    when: {all: [{field: event, eq: commented}, {field: event, eq: resolved},",
                 "timer 'rca' (started by severity critical, severity high) can never be stopped: the only stop "
                 "rules that list it ('root cause documented') can never match",
                 id="its only stop rule is unreachable"),
])
def test_lint_finds_a_timer_nothing_can_stop(tmp_path, old, new, message):
    problems = [p for p in lint_with(tmp_path, old, new) if "can never be stopped" in p.message]
    assert [p.message[:len(message)] for p in problems] == [message]
    assert problems[0].severity == "error" and problems[0].line is not None
