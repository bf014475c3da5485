"""The pattern prefilter may skip a search only when the regex could not have matched."""
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.domain.conditions import Test as PatternTest  # a bare `Test` would be collected by pytest
from plugin.domain.matrix import Rule
from plugin.domain.ticket import EventKind, TicketEvent, TicketState
from plugin.engine import Evaluator
from plugin.engine.prefilter import prefiltered

PATTERNS = [
    r"(?i)\b(outage|down|unavailable|not loading|5\d\d error)\b",
    r"(?i)data (loss|lost|corrupt\w*)|missing records|deleted (all|our) data",
    r"(?i)remediation plan|workaround|next steps",
    r"(?i)(overcharg\w*|double charged|refund|invoice (is )?wrong)",
    r"Outage", r"^$", r".*", r"5\d\d", r"a+b", r"(?i:down)time", r"(?i)straße|İstanbul|kelvin",
]
ALPHABET = "aAbBdDeEiIkKnNoOsStTuUwW5 ıİſßK\u212a-"


@pytest.mark.parametrize("pattern, words", [
    (r"(?i)remediation plan|workaround", {"remediation plan", "workaround"}),
    (r"(?i)\b(Outage|down)\b", {"outage", "down"}),
    (r"data (loss|lost)", {"data "}),
    (r"(?i:down)time", {"time"}),
    (r".*", set()),
    (r"x*", set()),
])
def test_required_words_are_found_in_the_pattern(pattern, words):
    assert prefiltered(pattern).words == words


@pytest.fixture(scope="module")
def one_rule_per_pattern(shipped_matrix):
    rules = tuple(Rule(f"p{i}", "trigger", PatternTest("summary", "matches", p)) for i, p in enumerate(PATTERNS))
    matrix = replace(shipped_matrix, triggers=rules, exceptions=(), stops=())
    return [Evaluator(matrix, backend).backend for backend in ("python", "durable")]


@settings(max_examples=2000, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=40) | st.sampled_from(
    ["Total OUTAGE today", "the dashboard is DOWN", "Straße", "İSTANBUL office", "\u212aELVIN", "ſtraße",
     "downtime", "Downtime", "DOWNTIME", "double charged", "invoice is wrong", "refunds please", "", "  "]))
def test_prefiltered_search_agrees_with_the_regex_in_both_backends(one_rule_per_pattern, text):
    event = TicketEvent("jira", EventKind.CREATED, "SUP-1", summary=text)
    # A blank field is absent, and an absent field matches no pattern.
    expected = [f"p{i}" for i, p in enumerate(PATTERNS) if text.strip() and re.search(p, text)]
    for backend in one_rule_per_pattern:
        assert [r.name for r in backend.matching(event, TicketState())] == expected
