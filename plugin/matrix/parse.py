"""Turn a schema-valid matrix document into domain values, checking what a schema cannot:
references between sections, field names, operators per field, regexes and templates."""
from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import timedelta
from pathlib import Path

from ..domain.conditions import All, Any, Condition, Not, Test
from ..domain.drafts import AUTO, DRAFT_THEN_AUTO
from ..domain.durations import parse_duration
from ..domain.errors import Problem
from ..domain.fields import FIELDS, OPERATORS, normalize
from ..domain.matrix import (
    DEFAULT_REVIEWS,
    Calendar,
    Communication,
    Effects,
    FieldSource,
    Level,
    Matrix,
    OwnerRule,
    Party,
    ReviewPolicy,
    Rule,
    Severity,
    SeverityTimers,
    TimerSpec,
)
from ..holidays_adapter import holiday_checker
from . import templates
from .yamlsrc import YamlDoc, path_text

ROLES = ("requester", "owner", "assignee", "account_manager")   # resolved per ticket
BUILTIN_CALENDAR = Calendar("24x7", "always")
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_STANDARD_TIMERS = {"ack": False, "plan": False, "rca": False, "update_every": True}
_OPERATOR_KEYS = ("eq", "neq", "in", "not_in", "contains", "contains_any", "matches",
                  "gt", "gte", "lt", "lte", "exists")
_PLURALS = {"severity": "severities"}
_FIELD_ATTRIBUTES = {"customer.tier": "customer_tier", "customer.region": "customer_region",
                     "customer.requested_priority": "requested_priority",
                     "product_area": "product_area", "account_manager": "account_manager"}


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}? " if close else ""


class MatrixParser:
    def __init__(self, doc: YamlDoc, templates_dir: Path, version: str):
        self.doc, self.data, self.templates_dir, self.version = doc, doc.data, templates_dir, version
        self.problems: list[Problem] = []

    def problem(self, path: tuple, message: str, fix: str = "") -> None:
        self.problems.append(Problem(message, file=self.doc.file, path=path_text(path),
                                     line=self.doc.line(path), fix=fix))

    def parse(self) -> Matrix:
        severities = self._severities()
        parties = self._parties()
        levels = self._levels(parties)
        calendars = self._calendars()
        timers = self._timers(severities, calendars)
        triggers = tuple(self._rule(("triggers", i), raw, "trigger", severities, levels, parties, calendars)
                         for i, raw in enumerate(self.data.get("triggers") or []))
        exceptions = tuple(self._rule(("exceptions", i), raw, "exception", severities, levels, parties, calendars)
                           for i, raw in enumerate(self.data.get("exceptions") or []))
        timer_names = {t.name for st in timers.values() for t in st.timers} | {
            t.name for r in triggers + exceptions for t in r.then.add_timers}
        stops = tuple(self._stop(("stop_timers", i), raw, timer_names)
                      for i, raw in enumerate(self.data.get("stop_timers") or []))
        self._unique_names(triggers + exceptions + stops)
        defaults = self.data.get("defaults") or {}
        matrix = Matrix(
            version=self.version, severities=severities, levels=levels, parties=parties, calendars=calendars,
            timers=timers, triggers=triggers, exceptions=exceptions, stops=stops,
            communications=self._communications(levels, parties, timer_names),
            field_sources=self._field_sources(),
            default_severity=self._default(("defaults", "severity"), defaults.get("severity"),
                                           [s.name for s in severities], ""),
            default_level=self._default(("defaults", "level"), defaults.get("level"),
                                        [lv.id for lv in levels], levels[0].id if levels else ""),
            source_files=(self.doc.file,),
            templates_dir=str(Path(self.templates_dir).resolve()),
            reviews=self._reviews(),
        )
        return matrix

    # -- sections -------------------------------------------------------------------------

    def _severities(self) -> tuple[Severity, ...]:
        return tuple(Severity(name, rank, {"jira": spec["jira"], "zendesk": spec["zendesk"]},
                              spec.get("description", ""))
                     for rank, (name, spec) in enumerate(self.data["severities"].items()))

    def _parties(self) -> dict[str, Party]:
        parties: dict[str, Party] = {}
        for section, kind in (("teams", "team"), ("people", "person")):
            for name, spec in (self.data.get(section) or {}).items():
                if name in parties or name in ROLES:
                    self.problem((section, name), f"{name!r} is defined twice (names of teams, people and the roles "
                                 f"{', '.join(ROLES)} share one namespace)", "rename one of them")
                    continue
                parties[name] = Party(
                    name=name, kind=kind, display_name=spec.get("name", name),
                    jira_account_id=(spec.get("jira") or {}).get("account_id", ""),
                    zendesk_user_id=str((spec.get("zendesk") or {}).get("user_id", "")),
                    zendesk_group_id=str((spec.get("zendesk") or {}).get("group_id", "")),
                    email=spec.get("email", ""), slack=spec.get("slack", ""), teams=spec.get("teams", ""),
                    members=tuple(spec.get("members", ())))
        for name, party in parties.items():
            section = "teams" if party.kind == "team" else "people"
            for i, member in enumerate(party.members):
                self._check_party((section, name, "members", i), member, parties)
        return parties

    def _check_party(self, path, name, parties, roles=False) -> None:
        known = set(parties) | (set(ROLES) if roles else set())
        if name not in known:
            self.problem(path, f"unknown owner or team {name!r}",
                         _suggest(name, known) + "define it under `teams:` or `people:`")

    def _levels(self, parties) -> tuple[Level, ...]:
        levels = []
        for rank, (level_id, spec) in enumerate(self.data["levels"].items()):
            path = ("levels", level_id)
            owner = self._owner(path + ("owner",), spec.get("owner"), parties)
            for i, team in enumerate(spec.get("teams", ())):
                self._check_party(path + ("teams", i), team, parties)
            levels.append(Level(level_id, rank, spec["name"], owner, tuple(spec.get("duties", ())),
                                tuple(spec.get("teams", ()))))
        return tuple(levels)

    def _owner(self, path, raw, parties) -> OwnerRule | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            self._check_party(path, raw, parties)
            return OwnerRule(default=raw)
        if raw["by"] not in FIELDS:
            self.problem(path + ("by",), f"unknown field {raw['by']!r}",
                         _suggest(raw["by"], FIELDS) + "owners can be chosen by e.g. product_area or customer.region")
        self._check_party(path + ("default",), raw["default"], parties)
        for key, name in raw["map"].items():
            self._check_party(path + ("map", key), name, parties)
        return OwnerRule(default=raw["default"], by=raw["by"],
                         choices={normalize(str(k)): v for k, v in raw["map"].items()})

    def _calendars(self) -> dict[str, Calendar]:
        calendars = {BUILTIN_CALENDAR.name: BUILTIN_CALENDAR}
        for name, spec in (self.data.get("calendars") or {}).items():
            path = ("calendars", name)
            tz = spec.get("timezone", "UTC")
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self.problem(path + ("timezone",), f"unknown time zone {tz!r}",
                             "use an IANA name such as Europe/Berlin or America/New_York")
            self._check_holidays(path + ("holidays",), spec.get("holidays", ""))
            start, _, end = spec.get("hours", "00:00-24:00").partition("-")
            if start >= end:
                self.problem(path + ("hours",), f"opening hours {spec['hours']!r} end before they start",
                             "write them as START-END within one day, e.g. 09:00-17:00")
            calendars[name] = Calendar(name, spec["type"], tz,
                                       tuple(_DAYS.index(d) for d in spec.get("days", _DAYS[:5]
                                             if spec["type"] == "business" else _DAYS)),
                                       start, end, spec.get("holidays", ""))
        return calendars

    def _check_holidays(self, path, code: str) -> None:
        try:
            holiday_checker(code)
        except ValueError as exc:
            self.problem(path, str(exc), "use an ISO country code such as US or DE, or COUNTRY-SUBDIVISION as DE-BY")

    def _timers(self, severities, calendars) -> dict[str, SeverityTimers]:
        names = [s.name for s in severities]
        out = {}
        for severity, spec in (self.data.get("timers") or {}).items():
            path = ("timers", severity)
            if severity not in names:
                self.problem(path, f"timers for unknown severity {severity!r}",
                             _suggest(severity, names) + f"severities are: {', '.join(names)}")
            calendar = spec["calendar"]
            if calendar not in calendars:
                self.problem(path + ("calendar",), f"unknown calendar {calendar!r}",
                             _suggest(calendar, calendars) + "define it under `calendars:` or use 24x7")
            timers = tuple(TimerSpec("update" if key == "update_every" else key,
                                     self._duration(path + (key,), spec[key]), calendar, recurring)
                           for key, recurring in _STANDARD_TIMERS.items() if key in spec)
            out[severity] = SeverityTimers(severity, timers, spec.get("warn_at", 0.8),
                                           spec.get("pause_when_waiting", False))
        return out

    def _rule(self, path, raw, kind, severities, levels, parties, calendars) -> Rule:
        if kind == "trigger" and "type" in raw:
            self.problem(path + ("type",), "triggers have no `type`",
                         "move this rule under `exceptions:` or remove `type`")
        then = raw["then"]
        self._check_ref(path + ("then", "severity"), then.get("severity"), [s.name for s in severities], "severity")
        self._check_ref(path + ("then", "level"), then.get("level"), [lv.id for lv in levels], "level")
        if "owner" in then:
            self._check_party(path + ("then", "owner"), then["owner"], parties)
        add_timers = tuple(TimerSpec(name, self._duration(path + ("then", "add_timers", name), text), "24x7")
                           for name, text in (then.get("add_timers") or {}).items())
        effects = Effects(then.get("severity", ""), then.get("level", ""), then.get("owner", ""),
                          tuple(then.get("labels", ())), add_timers, then.get("pin", False))
        return Rule(raw["name"], kind, self.condition(path + ("when",), raw["when"]), effects,
                    category=raw.get("type", ""), path=path_text(path), description=raw.get("description", ""))

    def _stop(self, path, raw, timer_names) -> Rule:
        for i, name in enumerate(raw["timers"]):
            if name not in timer_names and name != "update_every":
                self.problem(path + ("timers", i), f"unknown timer {name!r}",
                             _suggest(name, timer_names) + f"timers are: {', '.join(sorted(timer_names))}")
        stops = tuple("update" if t == "update_every" else t for t in raw["timers"])
        return Rule(raw["name"], "stop", self.condition(path + ("when",), raw["when"]), stops=stops,
                    path=path_text(path), description=raw.get("description", ""))

    def _duration(self, path, text) -> timedelta:
        try:
            return parse_duration(text)
        except ValueError as exc:
            self.problem(path, str(exc), "write a positive duration such as 30s, 15m, 2h or 1d")
            return timedelta(seconds=1)

    def _check_ref(self, path, value, known, what) -> None:
        if value and value not in known:
            self.problem(path, f"unknown {what} {value!r}",
                         _suggest(value, known) + f"{_PLURALS.get(what, what + 's')} are: {', '.join(known)}")

    def _unique_names(self, rules) -> None:
        seen = {}
        for rule in rules:
            if rule.name in seen:
                self.problem(tuple(_split_path(rule.path)) + ("name",),
                             f"rule name {rule.name!r} is already used at {seen[rule.name]}",
                             "give every trigger, exception and stop rule its own name; the escalation log cites it")
            seen.setdefault(rule.name, rule.path)

    def _communications(self, levels, parties, timer_names) -> tuple[Communication, ...]:
        out = []
        level_ids = [lv.id for lv in levels]
        for level_id, entries in (self.data.get("communications") or {}).items():
            self._check_ref(("communications", level_id), level_id, level_ids, "level")
            for i, spec in enumerate(entries):
                path = ("communications", level_id, i)
                for j, name in enumerate(spec["notify"]):
                    self._check_party(path + ("notify", j), name, parties, roles=True)
                self._check_template(path + ("template",), spec["template"])
                cadence = spec.get("cadence", "")
                cadence = "update" if cadence == "update_every" else cadence
                if cadence and cadence not in timer_names:
                    self.problem(path + ("cadence",), f"unknown timer {cadence!r} as cadence",
                                 "use a timer of the `timers:` section, e.g. update_every")
                send, after = self._send_mode(path, spec)
                out.append(Communication(level_id, spec["on"], tuple(spec["notify"]), spec["channel"],
                                         spec["template"], cadence, spec.get("sensitive", False), send, after))
        return tuple(out)

    def _send_mode(self, path, spec) -> tuple[str, timedelta | None]:
        """`send:` and its `after:`, which only draft_then_auto takes and which it needs."""
        send = spec.get("send", AUTO)
        if send != DRAFT_THEN_AUTO:
            if "after" in spec:
                self.problem(path + ("after",), f"`after` only applies to send: {DRAFT_THEN_AUTO}, not {send}",
                             f"remove `after`, or use send: {DRAFT_THEN_AUTO}")
            return send, None
        if "after" not in spec:
            self.problem(path + ("send",), f"send: {DRAFT_THEN_AUTO} needs `after`: how long the owner has to act",
                         "add e.g. after: 10m")
            return send, None
        return send, self._duration(path + ("after",), spec["after"])

    def _check_template(self, path, name) -> None:
        file = self.templates_dir / name
        if not file.is_file():
            existing = sorted(p.name for p in self.templates_dir.glob("*.j2")) if self.templates_dir.is_dir() else []
            self.problem(path, f"template {name!r} not found in {self.templates_dir.name}/",
                         _suggest(name, existing) + f"create {self.templates_dir.name}/{name}")
            return
        error = templates.syntax_error(self.templates_dir, name)
        if error:
            message, line = error
            self.problems.append(Problem(f"template syntax: {message}", file=f"{self.templates_dir.name}/{name}",
                                         line=line, path=path_text(path),
                                         fix="close every {{ }} / {% %} and end each {% if %} / {% for %} block"))

    def _field_sources(self) -> tuple[FieldSource, ...]:
        out = []
        for field_name, platforms in (self.data.get("fields") or {}).items():
            for platform, spec in platforms.items():
                kinds = [k for k in spec if k != "map"]
                if len(kinds) != 1:
                    self.problem(("fields", field_name, platform), f"name exactly one source, found {kinds}",
                                 "e.g. {custom_field: customfield_10050} or {label_prefix: tier-}")
                    continue
                kind = kinds[0]
                key = "" if spec[kind] is True else str(spec[kind])
                out.append(FieldSource(_FIELD_ATTRIBUTES[field_name], platform, kind, key,
                                       {normalize(str(k)): v for k, v in (spec.get("map") or {}).items()}))
        return tuple(out)

    def _reviews(self) -> ReviewPolicy:
        """When an after-action review is due; each part the section leaves out keeps its default."""
        raw = self.data.get("reviews") or {}
        when = self.condition(("reviews", "when"), raw["when"]) if "when" in raw else DEFAULT_REVIEWS.when
        every = raw.get("remind_every")
        return ReviewPolicy(when, self._duration(("reviews", "remind_every"), every) if every
                            else DEFAULT_REVIEWS.remind_every)

    def _default(self, path, value, known, fallback) -> str:
        if value is None:
            return fallback
        self._check_ref(path, value, known, path[-1])
        return value

    # -- conditions -----------------------------------------------------------------------

    def condition(self, path, raw) -> Condition:
        keys = [k for k in ("all", "any", "not") if k in raw]
        ops = [k for k in _OPERATOR_KEYS if k in raw]
        if keys and (ops or "field" in raw or len(keys) > 1):
            self.problem(path, f"a condition is one of all/any/not or one test, found {sorted(raw)}",
                         "split it: {all: [{field: ..., eq: ...}, {any: [...]}]}")
            return All(())
        if keys == ["all"]:
            return All(tuple(self.condition(path + ("all", i), c) for i, c in enumerate(raw["all"])))
        if keys == ["any"]:
            return Any(tuple(self.condition(path + ("any", i), c) for i, c in enumerate(raw["any"])))
        if keys == ["not"]:
            return Not(self.condition(path + ("not",), raw["not"]))
        return self._test(path, raw, ops)

    def _test(self, path, raw, ops) -> Condition:
        name = raw.get("field")
        if name is None or len(ops) != 1:
            self.problem(path, "a test needs `field:` and exactly one operator",
                         f"e.g. {{field: customer.tier, eq: enterprise}}; operators: {', '.join(_OPERATOR_KEYS)}")
            return All(())
        op, value = ops[0], raw[ops[0]]
        spec = FIELDS.get(name)
        if spec is None:
            self.problem(path + ("field",), f"unknown field {name!r}",
                         _suggest(name, FIELDS) + "see `escalator check --fields` for the list")
            return All(())
        if op not in OPERATORS[spec.kind]:
            self.problem(path + (op,), f"`{op}` does not apply to {name} (a {spec.kind})",
                         f"use one of: {', '.join(sorted(OPERATORS[spec.kind]))}")
            return All(())
        if op == "matches":
            return self._pattern(path, name, value)
        self._check_values(path + (op,), spec, value)
        normalized = tuple(normalize(v) for v in value) if isinstance(value, list) else normalize(value)
        return Test(name, op, normalized, path_text(path))

    def _pattern(self, path, name, pattern) -> Condition:
        try:
            re.compile(pattern)
        except re.error as exc:
            self.problem(path + ("matches",), f"regular expression {pattern!r} does not compile: {exc}",
                         "escape special characters with a backslash, e.g. \\( or \\.; use (?i) for case-insensitive")
        return Test(name, "matches", pattern, path_text(path))

    def _check_values(self, path, spec, value) -> None:
        if not spec.values:
            return
        for v in value if isinstance(value, list) else [value]:
            if str(v).casefold() not in spec.values:
                self.problem(path, f"{spec.name} is never {v!r}",
                             _suggest(v, spec.values) + f"it is one of: {', '.join(spec.values)}")


def _split_path(text: str) -> list:
    parts = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return parts
