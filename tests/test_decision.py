"""How the shipped matrix decides severity, level, owner, timers and messages for one event."""
import gc
import weakref
from dataclasses import replace
from datetime import timedelta

import pytest

from plugin.domain.decision import Notification, decide
from plugin.domain.fieldmap import apply_field_map
from plugin.domain.matrix import TimerSpec
from plugin.domain.ticket import Comment, EventKind, TicketEvent, TicketState
from plugin.engine import Evaluator

OUTAGE = "Checkout is down for everyone"
ENTERPRISE_OUTAGE = "rule:enterprise outage is critical"


@pytest.fixture(scope="module")
def evaluate(shipped_matrix):
    evaluator = Evaluator(shipped_matrix, "python")
    return lambda event, state=None: evaluator.evaluate(event, state)


def event(kind=EventKind.CREATED, platform="jira", **fields) -> TicketEvent:
    return TicketEvent(platform, kind, "SUP-1", **fields)


@pytest.mark.parametrize("state, incoming", [
    pytest.param(TicketState("critical", "L2", "platform-sre"), event(EventKind.UPDATED),
                 id="nothing matches"),
    pytest.param(TicketState("critical", "L3", "vp-support"),
                 event(summary=OUTAGE, customer_tier="enterprise"), id="trigger for a lower level"),
    pytest.param(TicketState("critical", "L2", "payments-eng"),
                 event(summary="Refund please", product_area="billing"),
                 id="trigger for a lower severity"),
])
def test_severity_and_level_never_go_down_on_their_own(evaluate, state, incoming):
    decision = evaluate(incoming, state)

    assert (decision.severity, decision.level) == (state.severity, state.level)
    assert (decision.reasons["severity"], decision.reasons["level"]) == ("current", "current")


@pytest.mark.parametrize("fields, severity, reason", [
    pytest.param(
        dict(summary=OUTAGE, customer_tier="enterprise", requested_priority="urgent"),
        "critical", ENTERPRISE_OUTAGE, id="a more severe trigger beats an earlier exception"),
    pytest.param(
        dict(summary=f"{OUTAGE}; refund us", customer_tier="business", product_area="billing"),
        "high", "rule:outage for any paying customer is high", id="on a tie the first rule"),
])
def test_most_severe_matching_rule_decides_severity_and_the_trace_says_which(
        evaluate, fields, severity, reason):
    decision = evaluate(event(**fields))

    assert len(decision.trace) > 1
    assert decision.severity == severity
    assert decision.reasons["severity"] == reason
    decided_by = [f.rule for f in decision.trace if "severity" in f.decided]
    assert decided_by == [reason.removeprefix("rule:")]


def test_exception_owner_beats_the_trigger_owner(evaluate):
    decision = evaluate(event(summary="Safety hazard: the export leaks personal data",
                              customer_region="EU"))

    assert decision.matched == ("EU personal-data incident", "safety concern goes to executives")
    assert (decision.level, decision.owner) == ("L3", "eu-privacy")
    assert decision.reasons["owner"] == "rule:EU personal-data incident"


@pytest.mark.parametrize("product_area, owner, reason", [
    ("payments", "payments-eng", "level:L2 by product_area=payments"),
    ("Billing", "payments-eng", "level:L2 by product_area=Billing"),
    ("sso", "identity-eng", "level:L2 by product_area=sso"),
    ("rockets", "platform-sre", "level:L2"),
    ("", "platform-sre", "level:L2"),
])
def test_l2_owner_is_chosen_by_product_area(evaluate, product_area, owner, reason):
    missed_ack = event(EventKind.SLA_BREACHED, timer="ack", product_area=product_area)

    decision = evaluate(missed_ack, TicketState("high", "L1", "support-oncall"))

    assert (decision.level, decision.owner, decision.reasons["owner"]) == ("L2", owner, reason)


@pytest.mark.parametrize("platform, priority, severity, reason", [
    ("jira", "Highest", "critical", "priority:Highest"),
    ("jira", "low", "low", "priority:low"),
    ("zendesk", "urgent", "critical", "priority:urgent"),
    ("zendesk", "Highest", "normal", "default"),
    ("jira", "", "normal", "default"),
])
def test_platform_priority_sets_severity_when_no_rule_does(
        evaluate, platform, priority, severity, reason):
    decision = evaluate(event(platform=platform, priority=priority))

    assert decision.matched == ()
    assert (decision.severity, decision.reasons["severity"]) == (severity, reason)


def timers(*specs):
    return tuple(TimerSpec(name, timedelta(**{unit: n}), calendar, recurring)
                 for name, unit, n, calendar, recurring in specs)


CRITICAL_TIMERS = timers(("ack", "minutes", 15, "24x7", False),
                         ("plan", "hours", 2, "24x7", False),
                         ("rca", "hours", 24, "24x7", False),
                         ("update", "minutes", 30, "24x7", True))


@pytest.mark.parametrize("state, start, stop", [
    pytest.param(TicketState(), CRITICAL_TIMERS, (), id="severity first set"),
    pytest.param(TicketState("critical", "L1", "support-oncall"), (), (), id="severity unchanged"),
    pytest.param(TicketState("low", "L1", "support-oncall"), CRITICAL_TIMERS, (),
                 id="severity rises"),
])
def test_timers_start_with_a_severity_and_are_rearmed_when_it_rises(evaluate, state, start, stop):
    decision = evaluate(event(summary=OUTAGE, customer_tier="enterprise"), state)

    assert decision.severity == "critical"
    assert (decision.start_timers, decision.stop_timers) == (start, stop)


def test_eu_personal_data_incident_adds_the_72_hour_regulator_notice(evaluate):
    decision = evaluate(event(labels=("personal-data",), customer_region="EU"),
                        TicketState("normal", "L1", "support-oncall"))

    assert decision.start_timers == timers(("regulator_notice", "hours", 72, "24x7", False))


@pytest.mark.parametrize("by_agent, public, stopped", [
    (True, True, ("ack", "update")),
    (True, False, ()),
    (False, True, ()),
])
def test_agents_public_comment_stops_ack_and_restarts_the_update_cadence(evaluate, by_agent, public, stopped):
    comment = Comment("Looking into it now.", public=public, by_agent=by_agent)

    decision = evaluate(event(EventKind.COMMENTED, comment=comment),
                        TicketState("high", "L1", "support-oncall"))

    assert decision.stop_timers == stopped


def test_escalation_to_l3_sends_the_executive_brief_by_private_email(evaluate):
    missed_plan = event(EventKind.SLA_BREACHED, timer="plan")

    decision = evaluate(missed_plan, TicketState("critical", "L2", "platform-sre"))

    assert decision.level == "L3"
    assert decision.notifications == (Notification(
        "escalated", "email", "exec_brief.md.j2", ("exec-escalations", "account_manager"),
        sensitive=True),)


def test_trace_lists_the_field_values_the_rule_matched_on(evaluate):
    decision = evaluate(event(summary=OUTAGE, customer_tier="Enterprise"))

    [fired] = decision.trace
    assert (fired.rule, fired.kind) == ("enterprise outage is critical", "trigger")
    assert fired.decided == ("severity", "level")
    assert fired.values == (("customer.tier", "Enterprise"), ("text", OUTAGE))


@pytest.mark.parametrize("length, shown", [(200, "x" * 193), (201, "x" * 193 + "…")])
def test_trace_truncates_values_longer_than_200_characters(evaluate, length, shown):
    summary = "outage " + "x" * (length - len("outage "))

    [fired] = evaluate(event(summary=summary, customer_tier="enterprise")).trace

    assert dict(fired.values)["text"] == "outage " + shown


@pytest.mark.parametrize("platform, owner, assignee", [
    ("jira", "support-oncall", "5b10ac8d82e05b22cc7d4ef5"),
    ("zendesk", "support-oncall", "group:360001234567"),
    ("jira", "vp-support", "5b10ac8d82e05b22cc7d4ef6"),
    ("zendesk", "vp-support", "user:900000000001"),
    ("jira", "identity-eng", ""),
])
def test_assignee_is_the_owners_id_on_the_platform(evaluate, platform, owner, assignee):
    decision = evaluate(event(EventKind.UPDATED, platform), TicketState("normal", "L1", owner))

    assert (decision.owner, decision.assignee) == (owner, assignee)


@pytest.mark.parametrize("incoming, attribute, value", [
    pytest.param(event(custom_fields={"customfield_10050": "Gold"}), "customer_tier", "enterprise",
                 id="Jira custom field, translated"),
    pytest.param(event(labels=("vip", "region-EU")), "customer_region", "EU",
                 id="Jira label prefix"),
    pytest.param(event(components=("payments", "api")), "product_area", "payments",
                 id="first Jira component"),
    pytest.param(event(platform="zendesk", labels=("area_billing",)), "product_area", "billing",
                 id="Zendesk tag prefix"),
    pytest.param(event(platform="zendesk", organization_fields={"customer_tier": "enterprise"}),
                 "customer_tier", "enterprise", id="Zendesk organization field"),
    pytest.param(event(platform="zendesk", labels=("region-EU",)), "customer_region", "",
                 id="another platform's source is ignored"),
    pytest.param(event(custom_fields={"customfield_10050": "Gold"}, customer_tier="business"),
                 "customer_tier", "business", id="a value the parser set is kept"),
])
def test_field_map_fills_customer_attributes(shipped_matrix, incoming, attribute, value):
    mapped = apply_field_map(incoming, shipped_matrix.field_sources)

    assert getattr(mapped, attribute) == value


def test_evaluation_applies_the_field_map_before_matching(evaluate):
    decision = evaluate(event(summary=OUTAGE, custom_fields={"customfield_10050": "Gold"}))

    assert decision.reasons["severity"] == ENTERPRISE_OUTAGE


def test_an_agent_lowering_the_priority_is_respected_and_remembered(evaluate):
    state = TicketState("critical", "L1", "support-oncall", priority="Highest")
    lowered = evaluate(event(EventKind.PRIORITY_CHANGED, priority="Low", summary="total outage",
                             customer_tier="enterprise"), state)
    assert (lowered.severity, lowered.human_severity) == ("low", "low")
    assert lowered.reasons["severity"] == "human:Low"
    later = evaluate(event(EventKind.COMMENTED, summary="total outage", customer_tier="enterprise"),
                     TicketState("low", "L1", "support-oncall", human_severity="low"))
    assert later.severity == "low"


def test_our_own_priority_write_echoed_back_is_not_an_agents_choice(evaluate):
    echo = evaluate(event(EventKind.PRIORITY_CHANGED, priority="Highest"),
                    TicketState("critical", "L1", "support-oncall", priority="Highest"))
    assert echo.human_severity == "" and echo.severity == "critical"


def test_a_pinned_rule_holds_against_an_agents_lower_priority(evaluate):
    lowered = evaluate(event(EventKind.PRIORITY_CHANGED, priority="Low", summary="a safety hazard"),
                       TicketState("critical", "L3", "vp-support"))
    assert lowered.severity == "critical"
    assert lowered.reasons["severity"] == "rule:safety concern goes to executives"


def test_each_matrix_decides_with_its_own_tables(shipped_matrix):
    quieter = replace(shipped_matrix, default_severity="low")
    nothing_said = event(EventKind.UPDATED)

    for matrix, severity in [(shipped_matrix, "normal"), (quieter, "low"), (shipped_matrix, "normal")]:
        decision = decide(matrix, nothing_said, TicketState(), [])
        assert (decision.severity, decision.reasons["severity"]) == (severity, "default")


def test_a_matrix_no_longer_used_is_freed_after_deciding(shipped_matrix):
    matrix = replace(shipped_matrix, default_severity="low")
    decide(matrix, event(), TicketState(), [])
    freed = weakref.ref(matrix)

    del matrix
    gc.collect()
    assert freed() is None
