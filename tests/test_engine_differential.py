"""The python backend is the oracle: on every generated event both backends must decide alike."""
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.domain.matrix import Effects, Rule
from plugin.engine import Evaluator

from .strategies import conditions, events, states


@pytest.fixture(scope="module")
def evaluators(shipped_matrix):
    return Evaluator(shipped_matrix, "durable"), Evaluator(shipped_matrix, "python")


@settings(max_examples=3000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(event=events, state=states)
def test_backends_decide_alike_on_the_shipped_matrix(evaluators, event, state):
    durable, python = (e.evaluate(event, state) for e in evaluators)
    assert durable.as_dict() == python.as_dict()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whens=st.lists(conditions, min_size=1, max_size=8),
       cases=st.lists(st.tuples(events, states), min_size=20, max_size=20))
def test_backends_match_alike_on_generated_conditions(shipped_matrix, whens, cases):
    rules = tuple(Rule(f"rule {i}", "trigger", when, Effects(labels=(f"r{i}",))) for i, when in enumerate(whens))
    matrix = replace(shipped_matrix, triggers=rules, exceptions=(), stops=())
    durable, python = Evaluator(matrix, "durable"), Evaluator(matrix, "python")
    for event, state in cases:
        assert durable.backend.matching(event, state) == python.backend.matching(event, state), (event, state)
