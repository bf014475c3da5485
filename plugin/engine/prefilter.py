"""Skip regex searches that cannot match.

A matrix with a hundred triggers has dozens of text patterns, and searching every one of them in
every event's text dominated evaluation. Most patterns admins write contain literal words
(`(?i)outage|down|unavailable`); any match must contain one of them, and a substring test is far
cheaper than a case-insensitive regex scan. Only when a required word is present does the real
regex run, so the result is always the regex's own. `codegen` writes the test for each pattern.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

try:    # the regex parser is private; without it every pattern is simply searched
    import re._parser as _sre
    from re._constants import ATOMIC_GROUP, BRANCH, LITERAL, MAX_REPEAT, MIN_REPEAT, POSSESSIVE_REPEAT, SUBPATTERN
except ImportError:  # pragma: no cover
    _sre = None


@dataclass(frozen=True)
class Prefiltered:
    """A compiled pattern with the words one of which every match contains (empty: always search)."""
    regex: re.Pattern
    words: frozenset[str]
    folded: bool                # words are case-folded; compare with folded text


def fold(text: str) -> str:
    """Case-fold as `re.IGNORECASE` compares ASCII letters; `re` also equates dotless ı with i."""
    return text.casefold().replace("ı", "i")


def prefiltered(pattern: str) -> Prefiltered:
    regex = re.compile(pattern)
    words, folded = _required_words(pattern)
    return Prefiltered(regex, frozenset(words), folded)


def _required_words(pattern: str) -> tuple[set[str], bool]:
    if _sre is None:
        return set(), False
    parsed = _sre.parse(pattern)
    folded = bool(parsed.state.flags & re.IGNORECASE)
    words = _required(list(parsed)) or set()
    if folded:
        if not all(w.isascii() for w in words):
            return set(), False
        words = {fold(w) for w in words}
    return words, folded


def _required(items) -> set[str] | None:
    """Alternative strings one of which every match of this sequence contains, or None."""
    candidates: list[set[str]] = []
    run: list[str] = []
    for op, value in items:
        if op is LITERAL:
            run.append(chr(value))
            continue
        if run:
            candidates.append({"".join(run)})
            run = []
        found = _required_in(op, value)
        if found:
            candidates.append(found)
    if run:
        candidates.append({"".join(run)})
    # The most selective requirement: the one whose shortest alternative is longest.
    return max(candidates, key=lambda c: min(map(len, c)), default=None)


def _required_in(op, value) -> set[str] | None:
    if op is SUBPATTERN:
        _group, add_flags, del_flags, sub = value
        return None if add_flags or del_flags else _required(list(sub))
    if op is BRANCH:
        alternatives = [_required(list(branch)) for branch in value[1]]
        return set().union(*alternatives) if all(alternatives) else None
    if op in (MAX_REPEAT, MIN_REPEAT, POSSESSIVE_REPEAT):
        low, _high, sub = value
        return _required(list(sub)) if low >= 1 else None
    if op is ATOMIC_GROUP:
        return _required(list(value))
    return None     # classes, anchors, lookarounds, back-references: no literal is certain
