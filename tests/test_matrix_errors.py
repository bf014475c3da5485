"""Each file in bad_matrices/ is a small, complete matrix with exactly one mistake; the loader
must name it exactly: what is wrong, where in the YAML, on which line, and what to write instead."""
from pathlib import Path

import pytest

from plugin.matrix.loader import read_matrix

BAD = Path(__file__).resolve().parent / "bad_matrices"


def problems_of(name: str):
    matrix, source = read_matrix(BAD / name)
    return matrix, source.problems






@pytest.mark.parametrize("file, message, path, line, fix", [
    pytest.param(
        "typo_key_in_then.yaml", "unknown key: 'serverity'", "triggers[0].then.serverity", 19,
        "did you mean 'serverity' -> 'severity'", id="typo'd key in then"),
    pytest.param(
        "typo_top_level_key.yaml", "unknown key: 'comunications'", "comunications", 20,
        "did you mean 'comunications' -> 'communications'", id="typo'd top-level key"),
    pytest.param(
        "unknown_owner_in_level.yaml", "unknown owner or team 'suport'", "levels.L1.owner", 6,
        "did you mean 'support'?", id="unknown owner of a level"),
    pytest.param(
        "unknown_owner_in_trigger.yaml", "unknown owner or team 'suport'",
        "triggers[0].then.owner", 19, "did you mean 'support'?", id="unknown owner in a trigger"),
    pytest.param(
        "unknown_level_in_trigger.yaml", "unknown level 'L4'", "triggers[0].then.level", 19,
        "levels are: L1, L2", id="unknown level"),
    pytest.param(
        "unknown_severity_in_trigger.yaml", "unknown severity 'critcal'",
        "triggers[0].then.severity", 19,
        "did you mean 'critical'? severities are: critical, normal", id="unknown severity"),
    pytest.param(
        "duration_with_space.yaml", "'15 mins' is not a duration", "timers.critical.ack", 11,
        "30s, 15m, 2h, 1d or 1h30m", id="duration with a space"),
    pytest.param(
        "regex_does_not_compile.yaml",
        "regular expression '(unclosed' does not compile: "
        "missing ), unterminated subpattern at position 0",
        "triggers[0].when.matches", 18, "escape special characters", id="regex does not compile"),
    pytest.param(
        "template_syntax_error.yaml",
        "template syntax: Unexpected end of template. Jinja was looking for the following tags: "
        "'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.",
        "communications.L1[0].template", 3, "end each {% if %}", id="template syntax error"),
    pytest.param(
        "template_missing.yaml", "template 'okay.md.j2' not found in templates/",
        "communications.L1[0].template", 22, "did you mean 'ok.md.j2'? create templates/okay.md.j2",
        id="template missing"),
    pytest.param(
        "unknown_field.yaml", "unknown field 'customer.teir'", "triggers[0].when.field", 18,
        "did you mean 'customer.tier'?", id="unknown field"),
    pytest.param(
        "operator_not_for_field_kind.yaml", "`contains` does not apply to customer.tier (a string)",
        "triggers[0].when.contains", 18, "use one of: eq, exists, in, matches, neq, not_in",
        id="operator not for the field's kind"),
    pytest.param(
        "test_with_two_operators.yaml", "a test needs `field:` and exactly one operator",
        "triggers[0].when", 18, "e.g. {field: customer.tier, eq: enterprise}", id="two operators"),
    pytest.param(
        "unknown_event_value.yaml", "event is never 'creatd'", "stop_timers[0].when.eq", 15,
        "did you mean 'created'?", id="event that does not exist"),
    pytest.param(
        "unknown_calendar.yaml", "unknown calendar 'business-us'", "timers.critical.calendar", 11,
        "define it under `calendars:` or use 24x7", id="unknown calendar"),
    pytest.param(
        "unknown_time_zone.yaml", "unknown time zone 'Europe/Berln'",
        "calendars.business-eu.timezone", 11, "IANA name such as Europe/Berlin",
        id="unknown time zone"),
    pytest.param(
        "unknown_holidays.yaml", "unknown holiday calendar 'XX' (Country XX not available); use an ISO country code "
        "such as US or DE, optionally with a subdivision such as DE-BY",
        "calendars.business-eu.holidays", 11, "COUNTRY-SUBDIVISION as DE-BY", id="unknown holiday calendar"),
    pytest.param(
        "duplicate_rule_name.yaml", "rule name 'outage is critical' is already used at triggers[0]",
        "triggers[1].name", 20, "give every trigger, exception and stop rule its own name",
        id="duplicate rule name"),
    pytest.param(
        "unknown_timer_in_stop_timers.yaml", "unknown timer 'ackk'", "stop_timers[0].timers[0]", 14,
        "did you mean 'ack'?", id="unknown timer in stop_timers"),
    pytest.param(
        "yaml_syntax_error.yaml", "YAML syntax: mapping values are not allowed here", "", 9,
        "fix the indentation or quoting on that line", id="YAML syntax error"),
])
def test_bad_matrix_is_reported_with_its_path_line_and_fix(file, message, path, line, fix):
    matrix, problems = problems_of(file)

    assert matrix is None
    assert [(p.message, p.path, p.line) for p in problems] == [(message, path, line)]
    assert fix in problems[0].fix


def test_template_problem_names_the_template_file():
    _, [problem] = problems_of("template_syntax_error.yaml")

    assert problem.file == "templates/broken.md.j2"


def test_missing_matrix_file_is_one_problem_that_says_where_it_looked():
    matrix, [problem] = problems_of("no_such_matrix.yaml")

    assert matrix is None
    assert problem.message.startswith("no matrix found at ")
    assert problem.message.endswith("no_such_matrix.yaml")
    assert (problem.path, problem.line) == ("", None)
    assert "holds matrix.yaml" in problem.fix


def test_on_key_of_a_communication_is_read_as_the_string_on_not_as_a_boolean():
    matrix, problems = problems_of("on_key_is_a_string.yaml")

    assert problems == []
    assert [c.on for c in matrix.communications] == ["escalated"]


@pytest.mark.parametrize("file, line, message_part", [
    pytest.param(
        "zero_duration.yaml", 11, "positive", id="zero duration"),
    pytest.param(
        "yaml_unclosed_flow_mapping.yaml", 6, "YAML syntax", id="unclosed { points at its line"),
    pytest.param(
        "duplicate_yaml_key.yaml", 23, "appears twice", id="duplicate YAML key"),
])
def test_mistake_is_reported_at_its_own_line(file, line, message_part):
    _, problems = problems_of(file)

    assert [p.line for p in problems] == [line]
    assert message_part in problems[0].message
