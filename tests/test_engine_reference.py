"""The compiled python backend against a plain reading of the condition tree.

The python backend is the oracle the durable backend is tested against, and it is generated code
specialised per event kind; this checks it against the simplest evaluator there is."""
import operator
import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.domain.conditions import All, Any, Not, fields_in
from plugin.domain.conditions import Test as Comparison  # a bare `Test` would be collected by pytest
from plugin.domain.fields import read_facts
from plugin.domain.matrix import Effects, Rule
from plugin.domain.ticket import EventKind, TicketEvent, TicketState
from plugin.engine import Evaluator
from plugin.engine.bykind import specialize

from .strategies import conditions, events, states

_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def holds(condition, facts: dict, raw: dict) -> bool:
    """What a condition means, read straight from the tree."""
    if isinstance(condition, Not):
        return not holds(condition.item, facts, raw)
    if isinstance(condition, All):
        return all(holds(c, facts, raw) for c in condition.items)
    if isinstance(condition, Any):
        return any(holds(c, facts, raw) for c in condition.items)
    field, op, value = condition.field, condition.op, condition.value
    present = facts.get(field)
    if op == "exists":
        return (field in facts) == value
    if op == "matches":
        return field in raw and re.search(value, raw[field]) is not None
    if op in _ORDER:
        return field in facts and _ORDER[op](present, value)
    return {"eq": lambda: present == value, "neq": lambda: present != value,
            "in": lambda: present in value, "not_in": lambda: present not in value,
            "contains": lambda: value in (present or ()),
            "contains_any": lambda: any(v in (present or ()) for v in value)}[op]()


def reference_matching(rules, event, state):
    matched = []
    for rule in rules:
        facts, raw = read_facts(fields_in(rule.when), event, state)
        if holds(rule.when, facts, raw):
            matched.append(rule)
    return matched


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whens=st.lists(conditions, min_size=1, max_size=8),
       cases=st.lists(st.tuples(events, states), min_size=20, max_size=20))
def test_python_backend_matches_as_the_condition_tree_reads(shipped_matrix, whens, cases):
    rules = tuple(Rule(f"rule {i}", "trigger", when) for i, when in enumerate(whens))
    backend = Evaluator(replace(shipped_matrix, triggers=rules, exceptions=(), stops=()), "python").backend
    for event, state in cases:
        assert backend.matching(event, state) == reference_matching(rules, event, state), (event, state)


@settings(max_examples=500, deadline=None)
@given(when=conditions, event=events, state=states)
def test_a_condition_specialised_to_the_event_kind_means_the_same_for_that_kind(when, event, state):
    decided = specialize(when, "event", event.kind.value)
    facts, raw = read_facts(fields_in(when), event, state)
    if isinstance(decided, bool):
        assert holds(when, facts, raw) is decided
    else:
        assert "event" not in fields_in(decided)
        assert holds(decided, facts, raw) == holds(when, facts, raw)


@pytest.mark.parametrize("when, kind, decided", [
    (Comparison("event", "eq", "created"), EventKind.CREATED, True),
    (Comparison("event", "in", ("created", "updated")), EventKind.RESOLVED, False),
    (All((Comparison("event", "eq", "created"), Comparison("customer.tier", "eq", "enterprise"))),
     EventKind.CREATED, Comparison("customer.tier", "eq", "enterprise")),
    (Any((Comparison("event", "eq", "created"), Comparison("customer.tier", "eq", "enterprise"))),
     EventKind.RESOLVED, Comparison("customer.tier", "eq", "enterprise")),
    (Not(Comparison("event", "eq", "created")), EventKind.CREATED, False),
    (Comparison("event", "matches", "^sla_"), EventKind.SLA_BREACHED, True),
    (Comparison("event", "exists", True), EventKind.DELETED, True),
])
def test_event_tests_are_decided_per_kind(when, kind, decided):
    assert specialize(when, "event", kind.value) == decided


def test_a_rule_for_created_events_matches_only_created_events(shipped_matrix):
    only_created = Rule("created only", "trigger", Comparison("event", "eq", "created"), Effects(labels=("new",)))
    backend = Evaluator(replace(shipped_matrix, triggers=(only_created,), exceptions=(), stops=()), "python").backend
    created = TicketEvent("jira", EventKind.CREATED, "SUP-1")

    assert backend.matching(created, TicketState()) == [only_created]
    assert backend.matching(replace(created, kind=EventKind.UPDATED), TicketState()) == []
