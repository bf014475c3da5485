"""Generated Python functions for the per-event work of both backends.

Values and patterns go into a constants table that the generated code reads as global names
(`c0`, `c1`, ...), never into the source, so nothing a matrix contains can change the generated
code. Field values are read once into local variables, with the same meaning as
`fields.read_facts`: `v<n>` the normalised value, `r<n>` the raw text and `l<n>` the case-folded
text (for patterns), each None when the field is absent.
"""
from __future__ import annotations

from collections.abc import Callable

from ..domain.conditions import Test
from ..domain.fields import FIELDS, fact
from .prefilter import Prefiltered, fold

# Absent values are None, so a comparison with one is simply false (or true, for "not").
_COMPARISONS = {
    "eq": "{v} == {c}",
    "neq": "{v} != {c}",
    "in": "{v} in {c}",
    "not_in": "{v} not in {c}",
    "contains": "({v} is not None and {c} in {v})",
    "contains_any": "({v} is not None and not {c}.isdisjoint({v}))",
    "gt": "({v} is not None and {v} > {c})",
    "gte": "({v} is not None and {v} >= {c})",
    "lt": "({v} is not None and {v} < {c})",
    "lte": "({v} is not None and {v} <= {c})",
}


class Source:
    """One generated function: its constants, the fields it reads, and how."""

    def __init__(self):
        self.constants: list = []
        self.fields: dict[str, int] = {}        # field -> the number of its local variables
        self.raw: set[str] = set()              # fields whose raw text is searched
        self.folded: set[str] = set()           # ... and whose case-folded text too

    def constant(self, value) -> str:
        self.constants.append(value)
        return f"c{len(self.constants) - 1}"

    def field(self, name: str, raw: bool = False, folded: bool = False) -> int:
        """The number of `name`'s local variables, reading it and its text as asked."""
        n = self.fields.setdefault(name, len(self.fields))
        if raw or folded:
            self.raw.add(name)
        if folded:
            self.folded.add(name)
        return n

    def test(self, test: Test, pattern: Prefiltered | None = None) -> str:
        """An expression for `test`; a `matches` test needs its pattern, prefiltered."""
        if test.op == "matches":
            return self.pattern_test(self.field(test.field, raw=True, folded=pattern.folded), pattern)
        n = self.field(test.field)
        if test.op == "exists":
            return f"(v{n} is not None)" if test.value else f"(v{n} is None)"
        value = test.value
        if test.op in ("in", "not_in", "contains_any"):
            value = frozenset(value)
        return _COMPARISONS[test.op].format(v=f"v{n}", c=self.constant(value))

    def pattern_test(self, n: int, pattern: Prefiltered) -> str:
        """Whether field `n`'s text matches: a substring test for a word every match contains
        first, the regex only when one is present."""
        search = f"{self.constant(pattern.regex.search)}(r{n}) is not None"
        if not pattern.words:
            return f"(r{n} is not None and {search})"
        text = f"l{n}" if pattern.folded else f"r{n}"
        words = " or ".join(f"{self.constant(w)} in {text}" for w in sorted(pattern.words))
        return f"(r{n} is not None and ({words}) and {search})"

    def function(self, signature: str, body: list[str], helpers: dict | None = None) -> Callable:
        """`def <signature>:` reading its fields from `E` (the event) and `S` (the state), then
        `body`, which may call `helpers` by name."""
        reads = self.reads()     # first: reading adds constants
        source = "\n".join([f"def {signature}:", *("    " + line for line in reads + body)])
        # The constants are the function's globals: as fast to load as locals, and unlike
        # closure variables they cost the compiler nothing.
        namespace = {f"c{n}": value for n, value in enumerate(self.constants)}
        namespace.update(fact=fact, fold=fold, **(helpers or {}))
        exec(compile(source, "<matrix>", "exec"), namespace)
        return namespace[signature.partition("(")[0]]

    def reads(self) -> list[str]:
        lines = []
        for name, n in self.fields.items():
            raw = name in self.raw
            lines += [f"x = {self.constant(FIELDS[name].read)}(E, S)",
                      "if x.__class__ is str:",
                      f"    v{n} = x.strip().casefold() or None"]
            if raw:
                lines += [f"    r{n} = x if v{n} is not None else None"]
            lines += ["elif x is None or x == ():",
                      f"    v{n} = r{n} = None" if raw else f"    v{n} = None",
                      "else:",
                      f"    v{n}, r{n} = fact(x)" if raw else f"    v{n} = fact(x)[0]"]
            if name in self.folded:
                lines += [f"l{n} = fold(r{n}) if r{n} is not None else None"]
        return lines
