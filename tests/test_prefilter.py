"""The pattern prefilter may skip a search only when the regex could not have matched."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.engine.prefilter import PatternSet, prefiltered

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


@settings(max_examples=2000, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=40) | st.sampled_from(
    ["Total OUTAGE today", "the dashboard is DOWN", "Straße", "İSTANBUL office", "\u212aELVIN", "ſtraße",
     "downtime", "Downtime", "DOWNTIME", "double charged", "invoice is wrong", "refunds please", ""]))
def test_prefiltered_search_agrees_with_the_regex(text):
    patterns = PatternSet({f"p{i}": p for i, p in enumerate(PATTERNS)})
    expected = {f"p{i}": re.search(p, text) is not None for i, p in enumerate(PATTERNS)}
    assert patterns.search(text) == expected


def test_an_absent_field_matches_no_pattern():
    assert PatternSet({"p": r".*"}).search(None) == {"p": False}
