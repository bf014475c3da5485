"""The debrief of a drill: every lost point with its reason, both timelines in one, advice for what
was missed, and Markdown and HTML that untrusted ticket or trainee text cannot break."""
import re
from datetime import timedelta

import pytest
from markupsafe import escape

from simulator.drills.actions import Action, Team
from simulator.drills.debrief import debrief, html, markdown, markdown_text
from simulator.drills.session import play
from simulator.drills.solution import solve
from simulator.scenarios import load_scenario, parse_offset

from .conftest import ROOT, RULES

MAIN = "SUP-412"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(ROOT / "scenarios" / "01-checkout-outage-unacknowledged.yaml")


@pytest.fixture(scope="module")
def solution(scenario):
    return solve(scenario, RULES)


@pytest.fixture(scope="module")
def runs(scenario, solution):
    """The matrix's own answers, nothing at all, and the first minutes of the answers only."""
    return {"solution": play(scenario, solution, RULES).to_json(),
            "empty": play(scenario, [], RULES).to_json(),
            "partial": play(scenario, _first_minutes(solution), RULES).to_json()}


def _first_minutes(actions: list[Action]) -> list[Action]:
    """Took the ticket, classified it, acknowledged the customer, then did nothing more."""
    return [a for a in actions if a.at == timedelta(0)]


def _failed(run: dict) -> list[dict]:
    return [e for e in run["expectations"] if not e["passed"]]


def _listed(report: dict) -> list[dict]:
    return [e for t in report["expectations"] for m in t["moments"] for e in m["expectations"]]


# -- content ------------------------------------------------------------------------------------

def test_the_solution_scores_100_with_only_strengths(runs):
    report = debrief(runs["solution"])
    assert report["score"] == 100
    assert report["improvements"] == [] and report["corrective_actions"] == []
    assert [s["objective"] for s in report["strengths"]] == list(runs["solution"]["objectives"])
    assert all(e["result"] == "pass" for e in _listed(report))


@pytest.mark.parametrize("name", ["empty", "partial"])
def test_every_failed_expectation_is_listed_with_its_reason(runs, name):
    run = runs[name]
    report = debrief(run)
    assert report["score"] < 100 and _failed(run)
    failed = [(e["ticket"], e["at"], e["expected"], e["reason"]) for e in _listed(report) if e["result"] == "fail"]
    assert failed == [(e["ticket"], e["at"], e["expected"], e["reason"])
                      for e in sorted(_failed(run), key=lambda e: parse_offset(e["at"]))]
    page, text = html(run), markdown(run)
    for e in _failed(run):
        assert str(escape(e["reason"])) in page
        assert markdown_text(e["reason"]) in text


def test_expectations_are_grouped_by_ticket_then_time(runs):
    report = debrief(runs["empty"])
    assert [t["ticket"] for t in report["expectations"]] == [MAIN]
    times = [m["at"] for m in report["expectations"][0]["moments"]]
    assert times == sorted(set(times), key=parse_offset)
    assert all(e["at"] == m["at"] for m in report["expectations"][0]["moments"] for e in m["expectations"])


def test_a_partial_run_names_its_strengths_and_what_it_missed(runs):
    report = debrief(runs["partial"])
    strengths = {s["objective"]: s for s in report["strengths"]}
    improvements = {i["objective"]: i for i in report["improvements"]}
    assert strengths["severity"]["passed"] == ["severity critical"]
    assert {"routing", "response_time", "update_cadence", "documentation"} <= set(improvements)
    assert not set(strengths) & set(improvements)
    plan = improvements["response_time"]["missed"]
    assert [(m["expected"], m["source"]) for m in plan] == [("plan within 2h", "timers.critical.plan (2h, 24x7)")]
    routing = {m["expected"]: m["source"] for m in improvements["routing"]["missed"]}
    assert routing["level L3"] == "rule 'missed remediation plan on critical goes to L3'"


def test_each_weak_objective_gets_one_recommendation_with_the_real_targets(runs):
    report = debrief(runs["partial"])
    advice = {c["objective"]: c["advice"] for c in report["corrective_actions"]}
    assert list(advice) == [i["objective"] for i in report["improvements"]]
    assert "the critical plan target is 2h (24x7 calendar)" in advice["response_time"]
    assert "the update cadence on SUP-412 is every 30m" in advice["update_cadence"]
    assert "level L3 (rule 'missed remediation plan on critical goes to L3')" in advice["routing"]


def test_a_missed_acknowledgement_says_acknowledging_is_taking_the_ticket(runs):
    advice = {c["objective"]: c["advice"] for c in debrief(runs["empty"])["corrective_actions"]}
    assert advice["response_time"].startswith("Take the ticket the moment it arrives: acknowledging = assigning it "
                                              "to yourself; the critical ack target is 15m (24x7 calendar).")


def test_the_timeline_merges_matrix_and_trainees_in_time_order(runs):
    rows = debrief(runs["partial"])["timeline"]
    times = [parse_offset(r["at"]) for r in rows]
    assert times == sorted(times)
    first = rows[0]
    assert first["at"] == "+0m" and first["matrix"][0]["event"] == "created"
    assert "severity critical" in first["matrix"][0]["did"]
    assert [a["did"] for a in first["trainees"]][:2] == ["acknowledged: took the ticket", "set severity critical"]
    assert any(r["matrix"] and not r["trainees"] for r in rows)        # the matrix went on alone
    assert sum(len(r["matrix"]) for r in rows) == len(runs["partial"]["matrix_timeline"])
    assert sum(len(r["trainees"]) for r in rows) == len(runs["partial"]["actions"])


def test_response_times_per_level_and_the_timer_results(runs):
    report = debrief(runs["partial"])
    took = {r["level"]: r["took"] for r in report["response_times"]["rows"]}
    assert took["L1"] == "0s" and took["L3"] == "no action"
    assert report["response_times"]["unanswered"] == list(took.values()).count("no action")
    timers = {e["expected"]: e["result"] for e in report["timers"]}
    assert timers["ack within 15m"] == "pass" and timers["plan within 2h"] == "fail"
    assert timers["update the customer every 30m"] == "fail"


def test_a_team_sees_each_role_scored(scenario, solution):
    team = Team({"Ana": "incident_owner", "Bo": "communications", "Cy": "scribe"})
    by = {"message": "Bo", "update": "Bo"}      # and the scribe writes nothing down
    actions = [Action(**{**a.__dict__, "by": by.get(a.do, "Ana")}) for a in _first_minutes(solution)]
    run = play(scenario, actions, RULES, team=team).to_json()
    report = debrief(run)
    assert {(r["role"], r["trainee"]) for r in report["roles"]} == {
        ("incident owner", "Ana"), ("communications", "Bo"), ("scribe", "Cy")}
    assert next(r["score"] for r in report["roles"] if r["trainee"] == "Cy") == 0
    page = html(run)
    assert "<title>Drill debrief: Enterprise checkout outage nobody acknowledges (Ana, Bo, Cy)</title>" in page
    assert "Scores per role" in page and "Scores per role" in markdown(run)


# -- untrusted text -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile(scenario):
    """A trainee whose note, rationale and owner text try to inject markup."""
    return play(scenario, [Action(at=timedelta(minutes=3), do="note", ticket=MAIN, text=f"{SCRIPT} | a | b",
                                  rationale="because | ![x](https://evil.example/x.png)")], RULES).to_json()


def test_html_escapes_trainee_text(hostile):
    page = html(hostile)
    assert SCRIPT not in page and "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | a | b" in page


def test_html_is_self_contained_and_marks_results_in_words(runs):
    page = html(runs["partial"])
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(script|link|img|iframe)\b|\bsrc=|@import|url\(", page, re.IGNORECASE)
    assert "PASS" in page and "FAIL" in page
    assert "@media print" in page


def test_markdown_tables_keep_their_columns_whatever_the_text(hostile):
    text = markdown(hostile)
    assert SCRIPT not in text and "&lt;script&gt;" in text
    tables = re.findall(r"(?:^\|.*\|\n)+", text, re.MULTILINE)
    assert any("a \\| b" in table for table in tables)
    for table in tables:
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table
    assert "![x]" not in text


@pytest.mark.parametrize("raw, safe", [
    ("a | b", r"a \| b"),
    ("<b>bold</b> & co", "&lt;b&gt;bold&lt;/b&gt; &amp; co"),
    ("two\n\nparagraphs", "two paragraphs"),
    ("# heading", r"\# heading"),
    ("- item", r"\- item"),
    ("1. item", r"1\. item"),
    ("---", r"\---"),
    ("[link](javascript:x)", r"\[link\](javascript:x)"),
    ("*stars* _under_ `code` ~strike~", r"\*stars\* \_under\_ \`code\` \~strike\~"),
    ("+15m", "+15m"),
    ("1.5 hours", "1.5 hours"),
    (None, ""),
])
def test_markdown_text_neutralises_markup(raw, safe):
    assert markdown_text(raw) == safe
