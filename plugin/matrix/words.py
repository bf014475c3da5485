"""Matrix conditions and effects in plain words, for people who read the matrix without its YAML."""
from __future__ import annotations

import re

from ..domain.conditions import All, Any, Condition, Not, Test
from ..domain.durations import format_duration
from ..domain.matrix import Effects, Matrix

# Field names as a team lead says them; the rest read well enough as written.
_FIELD_WORDS = {
    "event": "the event", "text": "the text (summary, description, comment)", "labels": "the labels",
    "components": "the components", "changed": "the changed fields", "timer": "the timer",
    "customer.tier": "the customer tier", "customer.region": "the customer region",
    "customer.requested_priority": "the priority the customer asked for", "product_area": "the product area",
    "comment.public": "the comment is public", "comment.by_agent": "the comment is by an agent",
    "current.severity": "the current severity", "current.level": "the current level",
    "current.owner": "the current owner", "satisfaction.rating": "the satisfaction rating",
    "satisfaction.score": "the satisfaction score", "account_manager": "the account manager",
}
_LITERAL = re.compile(r"[\w' -]+")     # plain words and spaces: no pattern syntax
_OPERATOR_WORDS = {
    "eq": "is", "neq": "is not", "in": "is one of", "not_in": "is none of", "contains": "include",
    "contains_any": "include any of", "matches": "matches", "gt": "is more than", "gte": "is at least",
    "lt": "is less than", "lte": "is at most",
}


def field_words(field: str) -> str:
    return _FIELD_WORDS.get(field, "the " + field.replace("_", " ").replace(".", " "))


def condition_words(condition: Condition, matrix: Matrix | None = None) -> str:
    """One sentence for a condition tree; nested alternatives are bracketed so the reading is unique."""
    if isinstance(condition, Test):
        return _test_words(condition, matrix)
    if isinstance(condition, Not):
        return f"not ({condition_words(condition.item, matrix)})"
    joiner = " and " if isinstance(condition, All) else " or "
    if not condition.items:
        return "always" if isinstance(condition, All) else "never"
    return joiner.join(_nested(item, matrix) for item in condition.items)


def _nested(condition: Condition, matrix: Matrix | None) -> str:
    text = condition_words(condition, matrix)
    return f"({text})" if isinstance(condition, (All, Any)) and len(condition.items) > 1 else text


def _test_words(test: Test, matrix: Matrix | None) -> str:
    name = field_words(test.field)
    if test.field in ("comment.public", "comment.by_agent") and test.op == "eq":
        return name if test.value else name.replace(" is ", " is not ", 1)
    if test.op == "exists":
        return f"{name} is set" if test.value else f"{name} is not set"
    if test.op == "matches":
        return pattern_words(name, str(test.value))
    return f"{name} {_OPERATOR_WORDS.get(test.op, test.op)} {_value_words(test.field, test.value, matrix)}"


def pattern_words(name: str, pattern: str) -> str:
    """A pattern that only lists words reads as those words; any other stays a /regex/ as written."""
    any_case = pattern.startswith("(?i)")
    text = pattern.removeprefix("(?i)").removeprefix("\\b").removesuffix("\\b")
    if _one_group(text):
        text = text[1:-1]
    words = text.split("|")
    if not all(_LITERAL.fullmatch(w) for w in words):
        return f"{name} matches /{pattern}/"
    quoted = [f"“{w}”" for w in words]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"{name} mentions {listed}" + (" (any case)" if any_case else "")


def _one_group(text: str) -> bool:
    """Whether the whole text is one bracketed group, as in `(a|b)` but not `(a)|(b)`."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and i < len(text) - 1:
            return False
    return text.startswith("(") and text.endswith(")") and not text.startswith("(?")


def _value_words(field: str, value: object, matrix: Matrix | None) -> str:
    if isinstance(value, tuple):
        return ", ".join(_value_words(field, v, matrix) for v in value)
    return _display_id(field, str(value).lower() if isinstance(value, bool) else str(value), matrix)


def _display_id(field: str, value: str, matrix: Matrix | None) -> str:
    """Parsed values are case-folded; show a level or severity as the matrix spells it (`L3`, not `l3`)."""
    if matrix is None:
        return value
    if field == "current.level":
        return next((lv.id for lv in matrix.levels if lv.id.casefold() == value), value)
    if field == "current.severity":
        return next((s.name for s in matrix.severities if s.name.casefold() == value), value)
    return value


def effects_words(effects: Effects) -> list[str]:
    """What a trigger or an exception does, one short phrase per effect."""
    phrases = []
    if effects.severity:
        phrases.append(f"severity at least {effects.severity}" + (" (pinned)" if effects.pin else ""))
    if effects.level:
        phrases.append(f"level at least {effects.level}")
    if effects.owner:
        phrases.append(f"owner {effects.owner}")
    phrases += [f"starts {t.name} ({format_duration(t.duration)}, {t.calendar})" for t in effects.add_timers]
    if effects.labels:
        phrases.append("labels " + ", ".join(effects.labels))
    return phrases
