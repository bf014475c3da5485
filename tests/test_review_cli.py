"""`escalator review` as a team lead runs it, on the database a real delivery was decided into."""
import json

import pytest
from click.testing import CliRunner

from plugin import bootstrap
from plugin.cli import main
from plugin.intake import ingest

from .conftest import RULES
from .test_webhooks import outage_payload


@pytest.fixture
def env(tmp_path, settings_for, clock):
    """The service's settings as variables, with jira/SUP-7 escalated into review 1."""
    database = f"sqlite:///{tmp_path}/escalator.db"
    container = bootstrap.build(settings_for(database_url=database), clock=clock, clients={}, with_metrics=False)
    ingest(container.store, "jira", json.dumps(outage_payload("SUP-7")).encode(),
           {"X-Atlassian-Webhook-Identifier": "d-1"}, clock.now())
    container.processor.drain()
    container.store.dispose()
    return {"ESCALATOR_DATABASE_URL": database, "ESCALATOR_RULES": str(RULES), "ESCALATOR_DATA_DIR": str(tmp_path)}


def review(env, *args, stdin=None):
    return CliRunner().invoke(main, ["review", *args], env=env, input=stdin, catch_exceptions=False)


def test_list_shows_each_review_with_its_ticket_status_and_items(env):
    table = review(env, "list")
    assert table.exit_code == 0 and "jira/SUP-7" in table.stdout and "draft" in table.stdout
    listed = json.loads(review(env, "list", "--json").stdout)["reviews"]
    assert [(r["id"], r["key"], r["status"]) for r in listed] == [(1, "SUP-7", "draft")]
    assert review(env, "list", "--status", "final").stdout.strip() == "no reviews in status final"


def test_a_simulated_ticket_s_review_is_listed_only_when_asked_for_and_marked(env):
    from sqlalchemy import create_engine, text
    engine = create_engine(env["ESCALATOR_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET simulated = 1"))
    engine.dispose()
    assert review(env, "list").stdout.strip() == "no reviews"
    listed = review(env, "list", "--simulated").stdout
    assert "SUP-7" in listed and "(simulated)" in listed


def test_show_and_export_carry_the_prefill_from_the_log(env, tmp_path):
    shown = json.loads(review(env, "show", "1", "--json").stdout)
    assert shown["prefill"]["timeline"][0]["rules"] == ["enterprise outage is critical"]
    exported = review(env, "export", "1")
    assert exported.stdout.startswith("# After-action review 1: jira/SUP-7\n")
    assert "## What happened _(pre-filled from the log)_" in exported.stdout
    assert "| L1 | 2026-11-30 09:00:00 UTC | ongoing |" in exported.stdout
    assert review(env, "export", "1", "--out", str(tmp_path / "review.md")).exit_code == 0
    assert (tmp_path / "review.md").read_text() == exported.stdout
    assert "After-action review 1" in review(env, "show", "1").stdout


def test_a_team_lead_writes_the_review_and_tracks_its_action_items_from_the_terminal(env, tmp_path):
    (tmp_path / "why.md").write_text("The deploy skipped the canary stage.\n")
    steps = [("status", "1", "in_review"), ("edit", "1", "why_it_happened", "--file", str(tmp_path / "why.md")),
             ("edit", "1", "what_went_well", "--text", "Payments engineering answered within minutes."),
             ("action", "add", "1", "--title", "Canary every checkout deploy", "--owner", "platform-sre",
              "--due", "2030-01-31", "--link", "OPS-12"),
             ("action", "add", "1", "--title", "Runbook for checkout", "--owner", "payments-eng",
              "--due", "2030-02-01"),
             ("action", "close", "1", "2", "--wont-do"),
             ("action", "update", "1", "1", "--due", "2030-02-15")]
    for step in steps:
        result = review(env, *step)
        assert result.exit_code == 0, (step, result.output)
    text = review(env, "export", "1").stdout
    assert "## Why it happened\n\nThe deploy skipped the canary stage." in text
    assert "| 1 | Canary every checkout deploy | platform-sre | 2030-02-15 23:59 | open | OPS-12 |" in text
    assert "| 2 | Runbook for checkout | payments-eng | 2030-02-01 23:59 | wont_do | - |" in text
    assert review(env, "status", "1", "final").stdout.strip() == "review 1 is final"
    assert json.loads(review(env, "show", "1", "--json").stdout)["frozen"] is True


@pytest.mark.parametrize("args, code, message", [
    (("status", "1", "final"), 1, "review 1 is draft; it can only move to in_review"),
    (("show", "99"), 1, "no review 99"),
    (("edit", "1", "why_it_happened"), 2, "give the new text with exactly one of --text or --file"),
    (("edit", "1", "root_cause", "--text", "x"), 2, "'root_cause' is not one of 'what_happened'"),
    (("action", "add", "1", "--title", "x", "--owner", "nobody", "--due", "2030-01-01"), 2,
     "owner 'nobody' is not a team or person of the matrix"),
    (("action", "add", "1", "--title", "x", "--owner", "cto", "--due", "2030-01-01", "--link", "see ticket"), 2,
     "is neither a Jira issue key"),
    (("action", "close", "1", "9"), 1, "review 1 has no action item 9"),
    (("action", "update", "1", "1"), 2, "nothing to change"),
], ids=["skipped status", "unknown review", "no text", "unknown section", "unknown owner", "bad link",
        "unknown item", "nothing to change"])
def test_a_refused_command_says_why_and_exits_non_zero(env, args, code, message):
    result = review(env, *args)
    assert result.exit_code == code and message in result.output, result.output
