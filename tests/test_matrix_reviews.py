"""The matrix's `reviews:` section: parsed into the neutral model, defaulted when absent, and each
mistake named with its YAML path, line and fix."""
import shutil
from datetime import timedelta

import pytest

from plugin.domain.holds import holds, ticket_reader
from plugin.domain.matrix import DEFAULT_REVIEWS
from plugin.domain.ticket import EventKind, TicketState
from plugin.matrix.loader import read_matrix

from .conftest import RULES

SHIPPED = """reviews:
  when: {any: [{field: current.level, eq: L3}, {field: current.severity, eq: critical}]}
  remind_every: 1d
"""


def matrix_with(tmp_path, section: str):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "matrix.yaml"
    assert SHIPPED in path.read_text()
    path.write_text(path.read_text().replace(SHIPPED, section))
    return read_matrix(rules)


def significant(matrix, **state) -> bool:
    return holds(matrix.reviews.when, ticket_reader("jira", "SUP-1", {"customer_tier": "enterprise"},
                                                    EventKind.UPDATED, TicketState(**state)))


def test_the_shipped_matrix_reviews_l3_or_critical_and_reminds_daily(shipped_matrix):
    assert shipped_matrix.reviews.remind_every == timedelta(days=1)
    assert [significant(shipped_matrix, **s) for s in ({"level": "L3"}, {"severity": "critical"},
                                                      {"level": "L2", "severity": "high"})] == [True, True, False]


def test_without_the_section_the_default_applies(tmp_path):
    matrix, source = matrix_with(tmp_path, "")
    assert source.problems == [] and matrix.reviews == DEFAULT_REVIEWS


def test_a_matrix_names_its_own_condition_and_cadence(tmp_path):
    matrix, source = matrix_with(tmp_path, "reviews:\n  when: {all: [{field: customer.tier, eq: Enterprise}, "
                                           "{field: current.level, in: [L2, L3]}]}\n  remind_every: 12h\n")
    assert source.problems == [] and matrix.reviews.remind_every == timedelta(hours=12)
    assert (significant(matrix, level="L2"), significant(matrix, level="L1")) == (True, False)


def test_a_section_with_only_a_cadence_keeps_the_default_condition(tmp_path):
    matrix, _ = matrix_with(tmp_path, "reviews: {remind_every: 2d}\n")
    assert matrix.reviews.when == DEFAULT_REVIEWS.when and matrix.reviews.remind_every == timedelta(days=2)


@pytest.mark.parametrize("section, message, path, fix", [
    ("reviews:\n  when: {field: current.levl, eq: L3}\n", "unknown field 'current.levl'", "reviews.when.field",
     "did you mean 'current.level'?"),
    ("reviews:\n  when: {field: current.level, contains: L3}\n",
     "`contains` does not apply to current.level (a string)", "reviews.when.contains",
     "use one of: eq, exists, in, matches, neq, not_in"),
    ("reviews:\n  remind_every: 1 day\n", "'1 day' is not a duration", "reviews.remind_every",
     "write a number and a unit"),
    ("reviews:\n  remind: 1d\n", "unknown key: 'remind'", "reviews.remind", "did you mean 'remind' -> 'remind_every'"),
], ids=["unknown field", "operator for another kind", "duration with a space", "typo'd key"])
def test_a_mistake_in_the_section_is_named_where_it_is(tmp_path, section, message, path, fix):
    matrix, source = matrix_with(tmp_path, section)
    [problem] = source.problems
    assert matrix is None and problem.message == message and problem.path == path and fix in problem.fix
    assert problem.line is not None
