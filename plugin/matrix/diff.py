"""What changed between two matrices: in meaning (rules, timers, owners, messages) and in text.

The semantic diff compares parsed matrices, so reordering keys or reformatting YAML shows no change;
the text diff shows the files line by line for what the summary leaves out (comments, wording).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass

from ..domain.durations import format_duration
from ..domain.matrix import Communication, Matrix, OwnerRule, Party, Rule
from .table import calendar_words, party_contacts
from .words import condition_words, effects_words

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class Change:
    section: str            # severities, levels, owners, timers, triggers, exceptions, stops, communications, ...
    subject: str            # what changed: a rule's name, "critical ack", "L2 owner"
    change: str             # added | removed | changed
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class DiffLine:
    kind: str               # hunk | add | del | same
    text: str
    old: int | None = None  # its line number in the old file (None for an added line or a hunk header)
    new: int | None = None  # and in the new one


@dataclass(frozen=True)
class FileDiff:
    path: str
    status: str             # added | removed | changed
    lines: tuple[DiffLine, ...]


def semantic_diff(old: Matrix, new: Matrix) -> list[Change]:
    """Every change in meaning from `old` to `new`, section by section in the matrix's own order."""
    return (_severities(old, new) + _levels(old, new) + _owners(old, new) + _timers(old, new)
            + _rules("triggers", old.triggers, new.triggers, old, new)
            + _rules("exceptions", old.exceptions, new.exceptions, old, new)
            + _rules("stops", old.stops, new.stops, old, new)
            + _communications(old, new) + _calendars(old, new) + _parties(old, new) + _reviews(old, new)
            + _defaults(old, new))


def _compare(section: str, before: dict[str, str], after: dict[str, str]) -> list[Change]:
    """Changes between two {subject: description} maps, in the order the subjects appear."""
    changes = []
    for subject in dict.fromkeys([*before, *after]):
        if subject not in after:
            changes.append(Change(section, subject, REMOVED, before=before[subject]))
        elif subject not in before:
            changes.append(Change(section, subject, ADDED, after=after[subject]))
        elif before[subject] != after[subject]:
            changes.append(Change(section, subject, CHANGED, before[subject], after[subject]))
    return changes


def _severities(old: Matrix, new: Matrix) -> list[Change]:
    def describe(m: Matrix) -> dict[str, str]:
        return {s.name: ", ".join(f"{p}: {v}" for p, v in sorted(s.platform_priority.items()))
                + (f" — {s.description}" if s.description else "") for s in m.severities}
    changes = _compare("severities", describe(old), describe(new))
    if [s.name for s in old.severities if s.name in new.severity_rank] != \
            [s.name for s in new.severities if s.name in old.severity_rank]:
        changes.append(Change("severities", "order", CHANGED, " > ".join(s.name for s in old.severities),
                              " > ".join(s.name for s in new.severities)))
    return changes


def _levels(old: Matrix, new: Matrix) -> list[Change]:
    def describe(m: Matrix) -> dict[str, str]:
        out = {}
        for lv in m.levels:
            out[lv.id] = lv.name
            out[f"{lv.id} duties"] = ", ".join(lv.duties) or "none"
            out[f"{lv.id} teams"] = ", ".join(lv.teams) or "none"
        return out
    changes = _compare("levels", describe(old), describe(new))
    # A level added or removed is one change, not three.
    gone = {lv.id for lv in old.levels} ^ {lv.id for lv in new.levels}
    return [c for c in changes if c.subject.split(" ")[0] not in gone or " " not in c.subject]


def owner_words(owner: OwnerRule | None) -> str:
    if owner is None:
        return "no owner"
    if not owner.by:
        return owner.default
    choices = ", ".join(f"{value} → {name}" for value, name in sorted(owner.choices.items()))
    return f"by {owner.by}: {choices}; otherwise {owner.default}"


def _owners(old: Matrix, new: Matrix) -> list[Change]:
    """One line per level's rule and one per mapped value, so a moved product area reads as itself."""
    def describe(m: Matrix) -> dict[str, str]:
        out = {}
        for lv in m.levels:
            owner = lv.owner
            out[f"{lv.id} owner"] = (f"by {owner.by}, otherwise {owner.default}" if owner and owner.by
                                     else owner_words(owner))
            for value, name in sorted(owner.choices.items()) if owner else ():
                out[f"{lv.id} owner when {owner.by} is {value}"] = name
        return out
    return _compare("owners", describe(old), describe(new))


def _timers(old: Matrix, new: Matrix) -> list[Change]:
    def describe(m: Matrix) -> dict[str, str]:
        out = {}
        for severity, spec in m.timers.items():
            for t in spec.timers:
                out[f"{severity} {t.name}"] = f"{format_duration(t.duration)} ({t.calendar})"
            out[f"{severity} warning"] = f"at {spec.warn_at:.0%}"
            out[f"{severity} waiting on the customer"] = "pauses" if spec.pause_when_waiting else "keeps counting"
        return out
    return _compare("timers", describe(old), describe(new))


def _rule_words(rule: Rule, matrix: Matrix) -> str:
    then = f"stops {', '.join(rule.stops)}" if rule.stops else "; ".join(effects_words(rule.then))
    kind = f" [{rule.category}]" if rule.category else ""
    return f"when {condition_words(rule.when, matrix)} then {then or 'nothing'}{kind}"


def _rules(section: str, before: tuple[Rule, ...], after: tuple[Rule, ...], old: Matrix, new: Matrix) -> list[Change]:
    changes = _compare(section, {r.name: _rule_words(r, old) for r in before},
                       {r.name: _rule_words(r, new) for r in after})
    kept_before = [r.name for r in before if r.name in {a.name for a in after}]
    kept_after = [r.name for r in after if r.name in {b.name for b in before}]
    if section == "exceptions" and kept_before != kept_after:
        # The first matching exception's owner wins, so their order is part of the meaning.
        changes.append(Change(section, "order", CHANGED, " > ".join(kept_before), " > ".join(kept_after)))
    return changes


def _message_words(c: Communication) -> str:
    cadence = f", repeated on {c.cadence}" if c.cadence else ""
    sensitive = ", sensitive" if c.sensitive else ""
    return f"on {c.on}: {', '.join(c.notify)} by {c.channel} with {c.template}{cadence}{sensitive}"


def _communications(old: Matrix, new: Matrix) -> list[Change]:
    """Messages are compared as sets per level: the same message listed elsewhere is no change."""
    changes = []
    levels = dict.fromkeys([c.level for c in old.communications + new.communications])
    for level in levels:
        before = {_message_words(c) for c in old.communications if c.level == level}
        after = {_message_words(c) for c in new.communications if c.level == level}
        changes += [Change("communications", level, REMOVED, before=m) for m in sorted(before - after)]
        changes += [Change("communications", level, ADDED, after=m) for m in sorted(after - before)]
    return changes


def _calendars(old: Matrix, new: Matrix) -> list[Change]:
    return _compare("calendars", {c.name: calendar_words(c) for c in old.calendars.values()},
                    {c.name: calendar_words(c) for c in new.calendars.values()})


def _party_words(party: Party) -> str:
    members = f"; members: {', '.join(party.members)}" if party.members else ""
    return f"{party.display_name} ({party.kind}): {', '.join(party_contacts(party)) or 'no contact'}{members}"


def _parties(old: Matrix, new: Matrix) -> list[Change]:
    return _compare("teams and people", {n: _party_words(p) for n, p in old.parties.items()},
                    {n: _party_words(p) for n, p in new.parties.items()})


def _reviews(old: Matrix, new: Matrix) -> list[Change]:
    def describe(m: Matrix) -> dict[str, str]:
        return {"review when": condition_words(m.reviews.when, m),
                "remind every": format_duration(m.reviews.remind_every)}
    return _compare("reviews", describe(old), describe(new))


def _defaults(old: Matrix, new: Matrix) -> list[Change]:
    return _compare("defaults", {"severity": old.default_severity, "level": old.default_level},
                    {"severity": new.default_severity, "level": new.default_level})


def text_diff(old_files: dict[str, str], new_files: dict[str, str], context: int = 3) -> list[FileDiff]:
    """A unified diff per file that differs: matrix.yaml first, then the templates by name."""
    paths = sorted(set(old_files) | set(new_files), key=lambda p: (p != "matrix.yaml", p))
    diffs = []
    for path in paths:
        before, after = old_files.get(path), new_files.get(path)
        if before == after:
            continue
        status = ADDED if before is None else REMOVED if after is None else CHANGED
        lines = difflib.unified_diff((before or "").splitlines(), (after or "").splitlines(), n=context,
                                     lineterm="")
        diffs.append(FileDiff(path, status, tuple(_numbered(list(lines)[2:]))))
    return diffs


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def _numbered(lines: list[str]):
    """Each line of a unified diff with its kind and its line numbers in the old and the new file."""
    old = new = 0
    for text in lines:
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(text[:1], "same")
        if kind == "hunk":
            start_old, start_new = map(int, _HUNK.match(text).groups())
            # An empty side's range starts at 0 (`-0,0`): its next line would be line 1.
            old, new = max(start_old, 1), max(start_new, 1)
            yield DiffLine(kind, text)
            continue
        yield DiffLine(kind, text[1:], old if kind != "add" else None, new if kind != "del" else None)
        old += kind != "add"
        new += kind != "del"


def as_dicts(items) -> list[dict]:
    return [asdict(item) for item in items]
