"""`escalator simulate` and `escalator replay` keep their reports in the configured database for the
dashboard's /simulations, and still write their files when that database cannot be reached."""
import json
import re
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.simulation_reports import KEPT_TICKETS, attainment, report_run, title
from plugin.store.simulation_runs import SimulationRun, SimulationRunNotFound, SimulationRunRepository
from plugin.store.sql import SqlStore

from .conftest import RULES, fresh_postgres_store

SMALL = ["--incidents", "40", "--days", "2", "--seed", "3", "--engine", "python", "--rules", str(RULES)]


@pytest.fixture
def database(tmp_path, monkeypatch):
    """A real SQLite file named the way a user names it: ESCALATOR_DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'escalator.db'}"
    monkeypatch.setenv("ESCALATOR_DATABASE_URL", url)
    return url


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def runs(url: str) -> SimulationRunRepository:
    return SimulationRunRepository(SqlStore(url).engine)


def test_simulate_keeps_its_report_with_the_figures_it_printed(database, tmp_path):
    result = run("simulate", *SMALL, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    repo = runs(database)
    [listed] = repo.page()
    assert f"simulation run {listed.id} (/simulations/{listed.id})" in result.output
    stored = repo.get(listed.id)
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    tickets = json.loads((tmp_path / "out" / "tickets.json").read_text())
    assert stored.kind == "simulate" and stored.title == "Simulation: 40 incidents over 2 days, seed 3"
    assert stored.params == {"seed": 3, "incidents": 40, "days": 2, "start": "2026-01-05", "rules": str(RULES),
                             "engine": "python"}
    assert {k: v for k, v in stored.summary.items() if k != "headline"} == written
    assert stored.matrix_version == written["matrix_version"]
    assert stored.details == {"tickets": tickets, "total": len(tickets)}
    escalated = sum(t["level"] not in ("", "L1") for t in tickets.values())
    assert stored.summary["headline"] == {"mtta_minutes": written["mtta_minutes"], "mttr_hours": written["mttr_hours"],
                                          "escalation_rate": round(escalated / len(tickets), 3),
                                          "sla_attainment": attainment(written)}
    assert listed.details is None, "a list leaves the details behind"


def test_a_run_loaded_into_the_database_keeps_how_many_tickets_it_loaded(database, tmp_path):
    result = run("simulate", *SMALL, "--out", tmp_path / "out", "--into-db")
    assert result.exit_code == 0, result.output
    loaded = int(re.search(r"loaded (\d+) simulated tickets", result.output).group(1))
    [kept] = runs(database).page()
    assert kept.loaded_into_db == loaded == len(json.loads((tmp_path / "out" / "tickets.json").read_text()))


def test_no_record_writes_only_the_files(database, tmp_path):
    result = run("simulate", *SMALL, "--out", tmp_path / "out", "--no-record")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.html").exists()
    assert runs(database).count() == 0 and "kept in the database" not in result.output


def test_the_simulator_alone_keeps_nothing_since_it_knows_no_database(database, tmp_path):
    from simulator.cli import simulate
    result = CliRunner().invoke(simulate, [*SMALL, "--out", str(tmp_path / "out")], catch_exceptions=False)
    assert result.exit_code == 0 and (tmp_path / "out" / "summary.json").exists()
    assert runs(database).count() == 0 and "database" not in result.output


def test_an_unreachable_database_is_one_line_and_the_files_are_still_written(tmp_path, monkeypatch):
    monkeypatch.setenv("ESCALATOR_DATABASE_URL", "postgresql+psycopg://nobody:s3cret@127.0.0.1:1/none")
    result = run("simulate", *SMALL, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "summary.json").exists() and (tmp_path / "out" / "report.html").exists()
    [line] = [line for line in result.output.splitlines() if "not kept" in line]
    assert line.startswith("the report was not kept in the database: cannot open the database postgresql")
    assert "s3cret" not in result.output and "Traceback" not in result.output


def test_replay_keeps_the_rule_change_diff_with_counts_per_field(database, tmp_path):
    candidate = tmp_path / "candidate"
    shutil.copytree(RULES, candidate)
    matrix = candidate / "matrix.yaml"
    old = "    then: {severity: high, labels: [billing-dispute]}"
    matrix.write_text(matrix.read_text().replace(old, "    then: {severity: critical, labels: [billing-dispute]}"))
    args = ["--incidents", "150", "--days", "5", "--seed", "11", "--engine", "python"]
    result = run("replay", "--baseline", RULES, "--candidate", candidate, *args, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    diff = json.loads((tmp_path / "out" / "diff.json").read_text())
    [stored] = [runs(database).get(r.id) for r in runs(database).page()]
    assert stored.kind == "replay" and stored.title.startswith(f"Rule change: {candidate} against {RULES}")
    assert stored.details == {"changed": diff["changed"], "total": len(diff["changed"]),
                              "aggregate": diff["aggregate"]}
    counted = {}
    for fields in diff["changed"].values():
        for name in fields:
            counted[name] = counted.get(name, 0) + 1
    assert stored.summary["changed_by_field"] == counted and counted["severity"] >= 1
    assert stored.summary["changed"] == len(diff["changed"]) and stored.summary["tickets"] == diff["tickets"]
    assert stored.params["baseline_version"] != stored.params["candidate_version"] == stored.matrix_version
    assert stored.summary["baseline"]["headline"]["escalation_rate"] == round(
        diff["aggregate"]["escalations"][0] / diff["tickets"], 3)


# -- the store --------------------------------------------------------------------------------------

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _run(n: int, **changes) -> SimulationRun:
    values = {"kind": "simulate", "title": f"run {n}", "params": {"seed": n}, "summary": {"tickets": n},
              "matrix_version": "abc123def456", "created_at": T0 + timedelta(minutes=n), "details": {"n": n}}
    return SimulationRun(**{**values, **changes})


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request, tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path}/runs.db") if request.param == "sqlite" else fresh_postgres_store()
    yield SimulationRunRepository(store.engine)
    store.dispose()


def test_runs_are_listed_newest_first_a_page_at_a_time(repo):
    ids = [repo.record(_run(n)).id for n in range(5)]
    assert [r.title for r in repo.page(limit=2)] == ["run 4", "run 3"]
    assert [r.title for r in repo.page(limit=2, offset=4)] == ["run 0"]
    assert repo.count() == 5
    got = repo.get(ids[2])
    assert got.details == {"n": 2} and got.created_at == T0 + timedelta(minutes=2) and got.loaded_into_db == 0
    with pytest.raises(SimulationRunNotFound):
        repo.get(ids[-1] + 1)


def test_runs_kept_at_the_same_instant_are_listed_last_kept_first(repo):
    first, second = repo.record(_run(1)), repo.record(_run(1, title="again"))
    assert [r.id for r in repo.page()] == [second.id, first.id]


def test_a_report_reads_back_as_it_was_kept(repo):
    changed = {"breaches": [[], ["ack", "plan"]], "first_page": [None, "2026-01-05T10:00:00+00:00"]}
    details = {"changed": {"jira/SUP-1": changed}, "total": 1, "aggregate": {"breaches": [0, 2]}}
    kept = repo.record(_run(3, kind="replay", summary={"changed_by_field": {"breaches": 1}, "headline": {"mtta": None}},
                            details=details, loaded_into_db=12))
    assert repo.get(kept.id) == kept and kept.details == details


def test_a_run_of_an_unknown_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match="simulate, replay"):
        runs(f"sqlite:///{tmp_path / 'runs.db'}").record(_run(1, kind="drill"))


def test_a_big_run_keeps_its_figures_from_every_ticket_but_only_the_first_rows():
    tickets = {f"jira/SUP-{n}": {"level": "L2" if n % 4 == 0 else "L1"} for n in range(KEPT_TICKETS + 500)}
    stored = report_run("simulate", {"seed": 1, "incidents": 1, "days": 1}, {"sla_attainment": {}},
                        {"tickets": tickets}, created_at=T0)
    assert len(stored.details["tickets"]) == KEPT_TICKETS and stored.details["total"] == KEPT_TICKETS + 500
    assert stored.summary["headline"]["escalation_rate"] == round(625 / 2500, 3)


@pytest.mark.parametrize("kind, params, expected", [
    ("simulate", {"incidents": 1, "days": 1, "seed": 3}, "Simulation: 1 incident over 1 day, seed 3"),
    ("replay", {"incidents": 2000, "days": 7, "seed": 1, "baseline": "rules", "candidate": "next"},
     "Rule change: next against rules (2,000 incidents over 7 days, seed 1)"),
    ("replay", {"from": "exports/december.jsonl", "baseline": "rules", "candidate": "next"},
     "Rule change: next against rules (deliveries from december.jsonl)"),
])
def test_a_run_is_titled_by_what_reproduces_it(kind, params, expected):
    assert title(kind, params) == expected
