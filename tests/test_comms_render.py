"""Message rendering: customer text stays data, template mistakes become clear errors, shipped templates render."""
from datetime import UTC, datetime, timedelta, timezone

import pytest

from plugin.comms.render import (
    MAX_MESSAGE_CHARS,
    MAX_TIMELINE,
    RenderError,
    format_time,
    message_context,
    render_message,
)
from plugin.domain.errors import EscalatorError
from plugin.matrix.templates import sample_context
from tests.conftest import RULES

TEMPLATES = RULES / "templates"
NOW = datetime(2026, 11, 29, 10, 3, tzinfo=UTC)

SSTI = {
    "mro": "{{ ''.__class__.__mro__ }}",
    "huge loop": "{% for x in range(10**9) %}x{% endfor %}",
    "arithmetic": "{{ 7*7 }}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "raw block": "{% raw %}{{ x }}{% endraw %}",
}


def ticket(**fields) -> dict:
    base = {
        "key": "SUP-1234", "platform": "jira", "summary": "Checkout API returns 502 for all EU customers",
        "description": "Since 09:12 UTC every payment attempt fails.\nAll regions affected.",
        "status": "In Progress", "priority": "Highest", "url": "https://example.atlassian.net/browse/SUP-1234",
        "reporter": "Dana Customer", "reporter_email": "dana@customer.example", "assignee": "Payments engineering",
        "labels": ["outage", "payments"], "workaround": "Retry with the backup card processor.",
        "product_area": "payments",
        "customer": {"name": "Acme Corp", "tier": "enterprise", "region": "EU", "account_manager": "Sam Lee"},
    }
    return base | fields


def context_for(matrix, level="L2", owner="payments-eng", **fields) -> dict:
    return message_context(
        ticket(**fields), matrix, severity="critical", level=level, owner=owner,
        timers=[{"name": "ack", "due": NOW + timedelta(minutes=11, seconds=30)},
                {"name": "update", "due": datetime(2026, 11, 29, 10, 33, tzinfo=UTC)}],
        timeline=[{"at": datetime(2026, 11, 29, 10, 0, tzinfo=UTC), "what": "escalated to L1",
                   "why": "enterprise outage is critical"},
                  {"at": datetime(2026, 11, 29, 10, 2, tzinfo=UTC), "what": "escalated to L2",
                   "why": "data loss or corruption goes to specialists"}],
        reason="enterprise outage is critical", now=NOW)


def templates_with(tmp_path, **templates) -> str:
    for name, text in templates.items():
        (tmp_path / f"{name}.j2").write_text(text)
    return str(tmp_path)


def failure(templates_dir, name, context=None) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render_message(templates_dir, name, context or {})
    assert isinstance(caught.value, EscalatorError)
    return caught.value


# -- customer text is data ----------------------------------------------------------------------

@pytest.mark.parametrize("payload", SSTI.values(), ids=SSTI.keys())
@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.j2")))
def test_template_syntax_in_a_summary_is_printed_as_written(shipped_matrix, template, payload):
    text = render_message(TEMPLATES, template, context_for(shipped_matrix, summary=payload))

    assert payload in text


@pytest.mark.parametrize("payload", SSTI.values(), ids=SSTI.keys())
def test_template_syntax_in_description_and_workaround_is_printed_as_written(shipped_matrix, tmp_path, payload):
    folder = templates_with(tmp_path, both="{{ ticket.description }}|{{ ticket.workaround }}")

    text = render_message(folder, "both.j2", context_for(shipped_matrix, description=payload, workaround=payload))

    assert text == f"{payload}|{payload}"


def test_a_line_break_in_a_summary_cannot_start_a_new_line_of_the_message(shipped_matrix):
    text = render_message(TEMPLATES, "exec_brief.md.j2",
                          context_for(shipped_matrix, summary="Down\r\nBcc: evil@example.com"))

    assert text.splitlines()[0] == "Executive brief: SUP-1234 — Down Bcc: evil@example.com"


# -- template mistakes --------------------------------------------------------------------------

def test_attribute_tricks_in_a_template_are_blocked_by_the_sandbox(tmp_path):
    folder = templates_with(tmp_path, evil="Hello\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n")

    error = failure(folder, "evil.j2")

    assert str(error) == ("template evil.j2 line 2: blocked by the sandbox: "
                          "access to attribute '__class__' of 'str' object is unsafe.")
    assert error.__context__ is None


@pytest.mark.parametrize("source, expected", [
    ("{{ ticket.key }}\n{{ customer_mood }}",
     "template bad.j2 line 2: undefined variable: 'customer_mood' is undefined"),
    ("{{ ticket.mood }}", "template bad.j2 line 1: undefined variable: 'dict object' has no attribute 'mood'"),
    ("{% for t in timerz %}{% endfor %}", "template bad.j2 line 1: undefined variable: 'timerz' is undefined"),
])
def test_an_unknown_variable_names_the_template_line_and_variable(shipped_matrix, tmp_path, source, expected):
    folder = templates_with(tmp_path, bad=source)

    error = failure(folder, "bad.j2", context_for(shipped_matrix))

    assert str(error) == expected
    assert (error.template, error.line) == ("bad.j2", int(expected.split(" line ")[1][0]))


def test_a_template_may_not_loop_a_billion_times(tmp_path):
    folder = templates_with(tmp_path, loop="{% for x in range(10**9) %}{% endfor %}")

    assert "templates may loop at most 1000 times" in str(failure(folder, "loop.j2"))


def test_a_runaway_message_stops_at_the_length_cap(tmp_path):
    loops = "{% for x in range(1000) %}{% for y in range(1000) %}xx{% endfor %}{% endfor %}"
    folder = templates_with(tmp_path, big=loops)

    error = failure(folder, "big.j2")

    assert str(error) == f"template big.j2: the message is longer than {MAX_MESSAGE_CHARS} characters"


@pytest.mark.parametrize("name, source, expected", [
    ("missing.j2", None, "template missing.j2: not found in "),
    ("broken.j2", "Hello {{ ticket.key ", "template broken.j2 line 1: syntax: "),
    ("zero.j2", "{{ 1 / 0 }}", "template zero.j2 line 1: ZeroDivisionError: division by zero"),
])
def test_other_template_failures_are_render_errors(tmp_path, name, source, expected):
    if source is not None:
        (tmp_path / name).write_text(source)

    assert str(failure(str(tmp_path), name)).startswith(expected)


# -- the shipped templates ----------------------------------------------------------------------

SHIPPED = {
    "reminder.md.j2": ["Reminder: the next update on SUP-1234 is due by 2026-11-29 10:33 UTC",
                       "Post a public update on the ticket to restart the cadence",
                       "https://example.atlassian.net/browse/SUP-1234"],
    "ack.md.j2": ["Hello Dana Customer,", '"Checkout API returns 502 for all EU customers" (SUP-1234)',
                  "**critical**. Payments engineering owns it", "again by 2026-11-29 10:33 UTC",
                  "In the meantime: Retry with the backup card processor."],
    "escalation_notice.md.j2": ["SUP-1234 escalated to L2 (Specialist investigation) — severity critical",
                                "Customer: Acme Corp (enterprise, EU)", "Why: enterprise outage is critical",
                                "Duties at this level: root cause, workaround, dependencies, remediation plan",
                                "- ack due 2026-11-29 10:14 UTC (11m left)",
                                "https://example.atlassian.net/browse/SUP-1234"],
    "exec_brief.md.j2": ["Customer: Acme Corp (enterprise), account manager Sam Lee",
                         "Severity: critical — Outage or data loss for a paying customer; safety risk",
                         "- 2026-11-29 10:00 UTC escalated to L1 (enterprise outage is critical)",
                         "- 2026-11-29 10:02 UTC escalated to L2 (data loss or corruption goes to specialists)"],
    "resolution.md.j2": ['SUP-1234 — "Checkout API returns 502 for all EU customers" is resolved.',
                         "(Retry with the backup card processor.), you can now revert it"],
    "status_update.md.j2": ["Status: In Progress · severity critical · handled by Specialist investigation "
                            "(Payments engineering)", "Next update by 2026-11-29 10:33 UTC."],
}


@pytest.mark.parametrize("template, expected", SHIPPED.items(), ids=SHIPPED.keys())
def test_each_shipped_template_renders_a_realistic_ticket(shipped_matrix, template, expected):
    text = render_message(TEMPLATES, template, context_for(shipped_matrix))

    for line in expected:
        assert line in text
    assert "{{" not in text and "{%" not in text


def test_every_shipped_template_is_covered():
    assert set(SHIPPED) == {p.name for p in TEMPLATES.glob("*.j2")}


def shape(value):
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value and isinstance(value[0], dict) else "list"
    return type(value).__name__


def test_the_context_has_exactly_the_documented_shape(shipped_matrix):
    assert shape(context_for(shipped_matrix)) == shape(sample_context(shipped_matrix, "L2"))


# -- the context --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (datetime(2026, 11, 29, 10, 15, 42, tzinfo=UTC), "2026-11-29 10:15 UTC"),
    (datetime(2026, 11, 29, 11, 15, tzinfo=timezone(timedelta(hours=1))), "2026-11-29 10:15 UTC"),
    (datetime(2026, 11, 29, 10, 15), "2026-11-29 10:15 UTC"),
    (None, ""),
    ("soon\n", "soon"),
])
def test_times_are_shown_in_utc_to_the_minute(value, expected):
    assert format_time(value) == expected


@pytest.mark.parametrize("due, remaining, state", [
    (NOW + timedelta(minutes=11, seconds=30), "11m", "running"),
    (NOW + timedelta(seconds=30), "0m", "running"),
    (NOW + timedelta(hours=1, minutes=30), "1h30m", "running"),
    (NOW - timedelta(minutes=5), "0m", "overdue"),
])
def test_timers_show_whole_minutes_left(shipped_matrix, due, remaining, state):
    context = message_context(ticket(), shipped_matrix, severity="high", level="L1", owner="support-oncall",
                              timers=[{"name": "ack", "due": due}], now=NOW)

    assert context["timers"] == [{"name": "ack", "due": format_time(due), "remaining": remaining, "state": state}]


def test_a_timer_keeps_the_state_it_is_given(shipped_matrix):
    context = message_context(ticket(), shipped_matrix, severity="high", level="L1", owner="support-oncall",
                              timers=[{"name": "plan", "due": None, "state": "paused"}], now=NOW)

    assert context["timers"] == [{"name": "plan", "due": "", "remaining": "", "state": "paused"}]


def test_next_update_due_given_explicitly_wins_over_the_update_timer(shipped_matrix):
    context = message_context(ticket(), shipped_matrix, severity="high", level="L1", owner="support-oncall",
                              timers=[{"name": "update", "due": NOW}], now=NOW,
                              next_update_due=datetime(2026, 11, 29, 12, 0, tzinfo=UTC))

    assert context["next_update_due"] == "2026-11-29 12:00 UTC"


def test_flat_ticket_event_names_fill_the_customer(shipped_matrix):
    flat = {"key": "ZD-9", "platform": "zendesk", "organization": "Globex", "customer_tier": "business",
            "customer_region": "US", "account_manager": "am@example.com"}

    context = message_context(flat, shipped_matrix, severity="low", level="L1", owner="", now=NOW)

    assert context["ticket"]["customer"] == {"name": "Globex", "tier": "business", "region": "US",
                                             "account_manager": "am@example.com"}
    assert context["owner"] == {"name": "", "display_name": "", "email": ""}


def test_long_customer_text_is_cut_and_old_timeline_entries_dropped(shipped_matrix):
    entries = [{"at": NOW, "what": f"step {i}", "why": ""} for i in range(MAX_TIMELINE + 10)]

    context = message_context(ticket(description="x" * 10_000, summary="y" * 1_000), shipped_matrix,
                              severity="low", level="L1", owner="", timeline=entries, now=NOW)

    assert len(context["ticket"]["description"]) == 4_000 and context["ticket"]["description"].endswith("…")
    assert len(context["ticket"]["summary"]) == 300
    assert [e["what"] for e in context["timeline"]][0] == "step 10"
    assert len(context["timeline"]) == MAX_TIMELINE


def test_owner_and_level_come_from_the_matrix(shipped_matrix):
    context = message_context(ticket(), shipped_matrix, severity="high", level="L3", owner="vp-support", now=NOW)

    assert context["owner"] == {"name": "vp-support", "display_name": "Jordan Avery (VP Support)",
                                "email": "jordan.avery@example.com"}
    assert context["level"] == {"id": "L3", "name": "Executive decision",
                                "duties": ["policy exceptions", "contractual implications",
                                           "senior stakeholder communication"]}
    assert context["severity"] == {"name": "high", "description": "Major feature broken, no workaround"}
