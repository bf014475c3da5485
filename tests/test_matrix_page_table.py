"""The shipped matrix read as a table: levels × severities, with the timers, messages and exceptions
of each cell, and every rule's condition in plain words."""
import pytest

from plugin.domain import conditions as c
from plugin.matrix.table import matrix_table
from plugin.matrix.words import condition_words


@pytest.fixture(scope="module")
def table(shipped_matrix):
    return matrix_table(shipped_matrix, label="2026.11")


def cell(table, level, severity):
    row = next(r for r in table.rows if r.id == level)
    return next(c for c in row.cells if c.severity == severity)


def test_rows_are_the_levels_and_columns_the_severities_with_their_platform_priorities(table):
    assert [r.id for r in table.rows] == ["L1", "L2", "L3"]
    assert [(s.name, s.priorities) for s in table.severities] == [
        ("critical", {"jira": "Highest", "zendesk": "urgent"}), ("high", {"jira": "High", "zendesk": "high"}),
        ("normal", {"jira": "Medium", "zendesk": "normal"}), ("low", {"jira": "Low", "zendesk": "low"})]
    assert all(len(r.cells) == 4 for r in table.rows)


def test_l2_is_owned_by_product_area_with_platform_sre_as_fallback(table):
    owner = table.rows[1].owner
    assert (owner.by, owner.default, owner.default_name) == ("product_area", "platform-sre", "Platform SRE")
    assert ("payments", "payments-eng") in owner.choices and ("login", "identity-eng") in owner.choices
    assert table.rows[0].owner.default == "support-oncall" and not table.rows[0].owner.by
    assert table.owner_overrides == (("safety concern goes to executives", "vp-support"),
                                     ("security incident goes to security", "security"))
    assert table.rows[1].duties == ("root cause", "workaround", "dependencies", "remediation plan")


def test_a_critical_l1_ticket_is_acknowledged_in_15m_around_the_clock_and_updated_every_30m(table):
    critical = cell(table, "L1", "critical")
    assert [(t.name, t.duration) for t in critical.timers] == [("ack", "15m"), ("plan", "2h"), ("rca", "1d"),
                                                              ("update", "30m")]
    assert (critical.calendar, critical.warn_at, critical.pause_when_waiting) == ("24x7", "80%", False)
    first = critical.messages[0]
    assert (first.on, first.notify, first.channel, first.template, first.cadence) == (
        "escalated", ("requester",), "ticket_comment", "ack.md.j2", "every 30m")


def test_a_low_ticket_has_only_an_ack_timer_on_business_hours_and_no_update_cadence(table):
    low = cell(table, "L1", "low")
    assert [(t.name, t.duration) for t in low.timers] == [("ack", "1d")]
    assert (low.calendar, low.pause_when_waiting) == ("business-us", True)
    assert low.messages[0].cadence == ""


def test_l3_sends_the_executive_brief_by_email_marked_sensitive(table):
    brief = cell(table, "L3", "high").messages[0]
    assert (brief.notify, brief.channel, brief.template, brief.sensitive) == (
        ("exec-escalations", "account_manager"), "email", "exec_brief.md.j2", True)


def test_each_cell_lists_what_the_exceptions_change_there(table):
    normal = {n.name: n.changes for n in cell(table, "L1", "normal").exceptions}
    assert normal == {"customer-requested urgent priority": ("severity → high",),
                      "EU personal-data incident": ("owner → eu-privacy", "+ regulator_notice 3d (24x7)")}
    critical = {n.name for n in cell(table, "L1", "critical").exceptions}
    assert critical == {"EU personal-data incident"}     # already above high: the priority request changes nothing


def test_an_exception_limited_to_a_level_shows_only_in_that_row_and_one_raising_the_level_only_below_it():
    from plugin.bootstrap import read_sources
    from plugin.matrix.stored import matrix_from_files

    from .conftest import RULES
    files = read_sources(RULES)
    requested = "        - {field: customer.requested_priority, eq: urgent}\n"
    text = files["matrix.yaml"].replace(requested, requested + "        - {field: current.level, in: [L1, L2]}\n", 1)
    text = text.replace("then: {severity: high, labels: [customer-requested-priority]}",
                        "then: {severity: high, level: L2, labels: [customer-requested-priority]}", 1)
    matrix, problems = matrix_from_files({**files, "matrix.yaml": text})
    assert not problems
    notes = {(c.level, c.severity): {n.name: n.changes for n in c.exceptions}.get("customer-requested urgent priority")
             for row in matrix_table(matrix).rows for c in row.cells}
    assert notes[("L1", "low")] == ("severity → high", "level → L2")
    assert notes[("L1", "critical")] == ("level → L2",)
    assert notes[("L2", "low")] == ("severity → high",)
    assert notes[("L2", "critical")] is None and notes[("L3", "low")] is None


def test_rules_are_listed_with_their_conditions_in_plain_words(table):
    reopened = next(t for t in table.triggers if t.name == "reopened ticket goes back to specialists")
    assert reopened.when == "the event is reopened and the current severity is one of critical, high"
    assert reopened.then == ("level at least L2", "labels reopened")
    eu = table.exceptions[1]
    assert eu.category == "regional_compliance"
    assert eu.when.startswith("the customer region is eu and (the labels include personal-data or ")
    assert table.stops[0].then == ("stops ack, update",)
    assert table.reviews_when == "the current level is L3 or the current severity is critical"
    assert table.reviews_remind_every == "1d"


def test_teams_and_people_show_how_they_are_reached_and_attributes_where_they_come_from(table):
    parties = {p.name: p for p in table.parties}
    assert parties["support-oncall"].contacts == ("email support-oncall@example.com", "slack #support-escalations",
                                                  "jira 5b10ac8d82e05b22cc7d4ef5", "zendesk group 360001234567")
    assert (parties["vp-support"].kind, parties["exec-escalations"].members) == ("person", ("vp-support", "cto"))
    tier = next(f for f in table.field_sources if (f.attribute, f.platform) == ("customer_tier", "jira"))
    assert tier.source == "custom field customfield_10050"
    assert tier.values == (("bronze", "pro"), ("gold", "enterprise"), ("silver", "business"))


def test_calendars_and_defaults_are_described(table):
    hours = {c.name: c.hours for c in table.calendars}
    assert hours["24x7"] == "around the clock, every day"
    assert hours["business-us"] == "Mon–Fri 09:00–18:00 America/New_York, closed on US public holidays"
    assert (table.default_severity, table.default_level, table.label) == ("normal", "L1", "2026.11")


@pytest.mark.parametrize("condition, words", [
    (c.Test("assignee", "exists", True), "the assignee is set"),
    (c.Test("comment.public", "eq", False), "the comment is not public"),
    (c.Test("satisfaction.score", "lte", 2), "the satisfaction score is at most 2"),
    (c.Not(c.Test("labels", "contains", "vip")), "not (the labels include vip)"),
    (c.All((c.Test("event", "eq", "created"), c.Any((c.Test("priority", "eq", "p1"), c.Test("priority", "eq", "p2"))))),
     "the event is created and (the priority is p1 or the priority is p2)"),
    (c.Any(()), "never"),
])
def test_conditions_read_as_sentences(condition, words):
    assert condition_words(condition) == words


@pytest.mark.parametrize("pattern, words", [
    (r"(?i)remediation plan|workaround|next steps",
     "the comment mentions “remediation plan”, “workaround” or “next steps” (any case)"),
    (r"(?i)\b(outage|down|unavailable)\b", "the comment mentions “outage”, “down” or “unavailable” (any case)"),
    ("refund", "the comment mentions “refund”"),
    (r"(?i)root cause|post-?mortem", r"the comment matches /(?i)root cause|post-?mortem/"),
    (r"(a)|(b)", "the comment matches /(a)|(b)/"),
    (r"down\bload", r"the comment matches /down\bload/"),
])
def test_a_pattern_that_only_lists_words_reads_as_those_words(pattern, words):
    assert condition_words(c.Test("comment", "matches", pattern)) == words


def test_the_table_is_plain_json(table):
    import json
    data = json.loads(json.dumps(table.as_dict()))
    assert data["rows"][0]["cells"][0]["timers"][0] == {"name": "ack", "meaning": "acknowledge", "duration": "15m",
                                                        "recurring": False}
