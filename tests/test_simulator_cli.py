"""`escalator simulate` and `escalator replay` as a team reviewing a rule change runs them."""
import json
import shutil

from click.testing import CliRunner

from plugin.cli import main

from .conftest import RULES

# These tests are about the files written; keeping reports in the database is test_simulation_reports.py.
SMALL = ["--incidents", "40", "--days", "2", "--seed", "3", "--engine", "python", "--no-record"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_simulate_prints_the_summary_and_writes_identical_reports_for_the_same_seed(tmp_path):
    first = run("simulate", *SMALL, "--out", tmp_path / "a", "--rules", RULES)
    second = run("simulate", *SMALL, "--out", tmp_path / "b", "--rules", RULES)
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    assert second.output.replace(str(tmp_path / "b"), "") == first.output.replace(str(tmp_path / "a"), "")
    assert "volume by severity" in first.output and "SLA attainment" in first.output and "MTTA" in first.output
    for name in ("summary.json", "tickets.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["tickets"] >= 40 and summary["volume_by_severity"]
    assert "<svg" in (tmp_path / "a" / "report.html").read_text()


def test_replay_of_an_unchanged_matrix_reports_nothing_and_exits_0(tmp_path):
    result = run("replay", "--baseline", RULES, "--candidate", RULES, *SMALL, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "0 of" in result.output


def test_replay_lists_exactly_the_tickets_a_changed_trigger_affects(tmp_path):
    candidate = tmp_path / "candidate"
    shutil.copytree(RULES, candidate)
    matrix = candidate / "matrix.yaml"
    old = "    then: {severity: high, labels: [billing-dispute]}"
    matrix.write_text(matrix.read_text().replace(old, "    then: {severity: critical, labels: [billing-dispute]}"))
    args = ["--incidents", "150", "--days", "5", "--seed", "11", "--engine", "python", "--no-record"]
    result = run("replay", "--baseline", RULES, "--candidate", candidate, *args, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    diff = json.loads((tmp_path / "out" / "diff.json").read_text())
    assert diff["changed"], "the generated month should contain billing disputes"
    baseline = run("simulate", *args, "--rules", RULES, "--out", tmp_path / "base")
    assert baseline.exit_code == 0
    # Every changed ticket matched the changed trigger, and each one it decided severity for changed.
    from simulator.cli import _generate
    from simulator.replay import replay
    store = replay(_generate(11, 150, 5, "2026-01-05"), RULES, engine="python").store
    matched = {f"{p}/{k}" for (p, k), log in store.log_by_ticket.items()
               if any(t["rule"] == "billing dispute is high" and "severity" in t["decided"]
                      for e in log for t in e["decision"]["trace"])}
    assert set(diff["changed"]) <= {f"{p}/{k}" for (p, k), log in store.log_by_ticket.items()
                                    if any(t["rule"] == "billing dispute is high"
                                           for e in log for t in e["decision"]["trace"])}
    assert matched <= set(diff["changed"])
    assert "| ticket | what changed |" in result.output
