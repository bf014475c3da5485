"""The `escalator` commands as an admin runs them."""
import json
import shutil

import pytest
from click.testing import CliRunner

from plugin.cli import main

from .conftest import FIXTURES, RULES

ALL_FIXTURES = sorted((FIXTURES / "jira").glob("*.json")) + sorted((FIXTURES / "zendesk").glob("*.json"))


@pytest.fixture
def run():
    def invoke(*args):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return invoke


@pytest.fixture
def rules_copy(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    # the payload cases point at the repository's fixtures
    for case in (target / "tests").glob("payloads.yaml"):
        case.unlink()
    return target


def test_check_accepts_the_shipped_matrix(run):
    result = run("check", RULES)
    assert result.exit_code == 0, result.output
    assert "11 triggers, 2 exceptions" in result.output


def test_check_lists_the_fields_conditions_can_test(run):
    result = run("check", "--fields")
    assert result.exit_code == 0
    assert "customer.tier" in result.output and "contains_any" in result.output


def test_check_rejects_a_broken_matrix_naming_file_line_path_and_fix(run, rules_copy):
    text = (rules_copy / "matrix.yaml").read_text()
    typo = text.replace("then: {severity: high, level: L1, labels: [escalation, outage]}",
                        "then: {serverity: high, level: L1}", 1)
    (rules_copy / "matrix.yaml").write_text(typo)
    result = run("check", rules_copy)
    assert result.exit_code == 1
    assert "matrix.yaml:" in result.output
    assert "triggers[1].then" in result.output
    assert "unknown key: 'serverity'" in result.output
    assert "did you mean 'serverity' -> 'severity'" in result.output


def test_check_prints_warnings_but_succeeds(run, rules_copy):
    path = rules_copy / "matrix.yaml"
    path.write_text(path.read_text().replace("critical: {ack: 15m,", "critical: {ack: 3h,"))
    result = run("check", rules_copy)
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "ack (3:00:00) is longer than plan" in result.output


@pytest.mark.parametrize("fixture", ALL_FIXTURES, ids=lambda p: p.name)
def test_eval_explains_every_fixture(run, fixture):
    result = run("eval", "--platform", fixture.parent.name, fixture, "--json", "--rules", RULES)
    assert result.exit_code == 0, result.output
    if result.output.startswith("ignored:"):
        return
    out = json.loads(result.output)
    assert out["decision"]["severity"] and out["decision"]["level"] and out["decision"]["owner"]
    assert out["engine"] == "durable"


def test_eval_prints_the_rule_trace(run, tmp_path):
    payload = json.loads((FIXTURES / "jira" / "mattermost__webhook-issue-created.json").read_text())
    payload["issue"]["fields"]["summary"] = "Checkout is down - total outage"
    payload["issue"]["fields"]["customfield_10050"] = {"value": "Gold"}
    (tmp_path / "p.json").write_text(json.dumps(payload))
    result = run("eval", "--platform", "jira", tmp_path / "p.json", "--rules", RULES)
    assert result.exit_code == 0, result.output
    assert "enterprise outage is critical" in result.output
    assert "customer.tier='enterprise'" in result.output
    assert "decided severity" in result.output


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not JSON"),
    ('{"hello": "world"}', "is not a jira webhook payload"),
])
def test_eval_rejects_what_is_not_a_jira_payload(run, tmp_path, content, message):
    (tmp_path / "p.json").write_text(content)
    result = run("eval", "--platform", "jira", tmp_path / "p.json", "--rules", RULES)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_eval_reports_an_unsupported_event_as_ignored(run, tmp_path):
    (tmp_path / "p.json").write_text('{"webhookEvent": "jira:worklog_updated", "timestamp": 1}')
    result = run("eval", "--platform", "jira", tmp_path / "p.json", "--rules", RULES)
    assert result.exit_code == 0
    assert result.output.startswith("ignored:")


def test_eval_refuses_an_invalid_matrix(run, rules_copy):
    (rules_copy / "matrix.yaml").write_text("severities: {}\n")
    result = run("eval", "--platform", "jira", FIXTURES / "jira" / "mattermost__webhook-issue-created.json",
                 "--rules", rules_copy)
    assert result.exit_code == 1
    assert "cannot be used" in result.output


def test_the_shipped_matrix_passes_its_own_tests(run):
    result = run("test", RULES)
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output


@pytest.mark.parametrize("engine", ["durable", "python"])
def test_a_failing_matrix_test_shows_expected_and_actual(run, rules_copy, engine):
    (rules_copy / "tests" / "wrong.yaml").write_text(
        "cases:\n  - name: outage is low\n    event: {summary: total outage, customer_tier: enterprise}\n"
        "    expect: {severity: low, owner: support-oncall}\n")
    result = run("test", rules_copy, "--engine", engine)
    assert result.exit_code == 1
    assert "FAIL wrong.yaml: outage is low" in result.output
    assert "severity: expected 'low', got 'critical'" in result.output
    assert "1 failed" in result.output


def test_a_malformed_matrix_test_is_reported_not_crashed(run, rules_copy):
    (rules_copy / "tests" / "bad.yaml").write_text("cases:\n  - name: typo\n    event: {sumary: x}\n"
                                                   "    expect: {severity: low}\n")
    result = run("test", rules_copy)
    assert result.exit_code == 1
    assert "unknown event fields ['sumary']" in result.output


def test_serve_warns_of_each_webhook_that_takes_unsigned_deliveries():
    from plugin.cli import unsigned_warnings
    from plugin.settings import Settings

    warnings = unsigned_warnings(Settings(jira_webhook_secret="s3cret-value"))
    assert len(warnings) == 1 and warnings[0].startswith("ESCALATOR_ZENDESK_WEBHOOK_SECRET is unset")
    assert "s3cret-value" not in " ".join(warnings)
    assert unsigned_warnings(Settings(jira_webhook_secret="a", zendesk_webhook_secret="b")) == []
