"""A real ticket as a drill scenario (`escalator drill --from-ticket jira/KEY`).

The story comes from the escalation log alone, read through the storage port (`timeline`, `load`):
its ticket events become scenario events at their offsets, and what the matrix did (severity, level,
owner, labels, breached timers, matched rules, messages) becomes the checkpoints, so `check()` of the
result proves that the story reproduces what happened. Timer events are left out: the replay raises
them again. Events that changed nothing were never logged, so they are not in the story either.

Ticket text is the customer's: none of it is carried over. Texts are written from the facts and keep
only the words the matrix's own patterns matched on, so the same rules fire; the customer and every
person get invented names from a Faker seeded with the seed and the ticket.
"""
from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from faker import Faker

from plugin.domain.conditions import tests_in
from plugin.domain.matrix import Matrix
from plugin.domain.snapshot import TIMER_ACTOR
from plugin.domain.timers import BREACHED, RUNNING
from plugin.matrix import load_matrix

from .generator import REGION_LOCALES
from .scenarios import format_offset

TIMER_KINDS = frozenset({"sla_warning", "sla_breached", "communication_stalled"})
TAIL = timedelta(hours=1)           # the story runs this far past the last thing the matrix did
LONGEST = timedelta(days=14)        # a drill is not a month of update reminders: the story stops here
TIERS = ("enterprise", "business", "pro", "free")
IN_REGION = {"EU": "the EU", "US": "the US", "APAC": "APAC"}
PRIORITY_NAMES = {"jira": ("Highest", "High", "Medium", "Low"), "zendesk": ("Urgent", "High", "Normal", "Low")}
WORKING, WAITING = "In Progress", "Waiting for customer"
STATUS_NAMES = {"open": "Open", "new": "Open", "in progress": WORKING, "hold": WORKING, "pending": WAITING,
                "waiting for customer": WAITING, "waiting on customer": WAITING, "awaiting customer": WAITING}
ISSUE_TYPES = {"incident": "Incident", "problem": "Incident", "service request": "Service request",
               "task": "Service request", "question": "Question"}
# Tags the simulator derives from the customer and ticket itself, so they are not labels the customer set.
DERIVED_LABELS = {"jira": re.compile(r"region-\w+"),
                  "zendesk": re.compile(r"(region|area|requested)_\w+|enterprise|business|pro|free")}
SAYS = {"customer_reply": "The customer writes again", "agent_reply": "Support replies to the customer",
        "internal_note": "An internal note on the ticket"}
HAPPENED = {"created": "the customer files the ticket", "customer_reply": "the customer writes again",
            "agent_reply": "an agent replies publicly", "internal_note": "an internal note is added",
            "assigned": "the ticket is assigned to a person", "status": "the status changes",
            "priority": "an agent changes the priority by hand", "resolved": "the ticket is resolved",
            "reopened": "the ticket is reopened", "rating": "the customer rates the support",
            "sla_breached": "a timer runs out", "communication_stalled": "the update cadence lapses",
            "sla_warning": "a timer is about to run out"}


class FromTicketError(ValueError):
    """A ticket that cannot become a scenario; the message names it."""


class UnknownTicket(FromTicketError):
    """No ticket of that key in the store."""


def scenario_from_ticket(store, platform: str, key: str, *, seed: int = 1, rules: str | Path = "rules") -> dict:
    """The drill scenario of ticket `platform/key`, as the plain data `scenario_yaml` writes.

    `store` is anything with the storage port's `timeline` and `load`; the same ticket and seed give
    the same scenario. Raises UnknownTicket, or FromTicketError when the log holds no ticket event.
    """
    name = f"{platform}/{key}"
    if platform not in PRIORITY_NAMES:
        raise FromTicketError(f"{name}: drills come from jira or zendesk tickets, not {platform!r}")
    record = store.load([(platform, key)]).get((platform, key))
    log = sorted(store.timeline(platform, key), key=lambda entry: entry["at"])
    if record is None and not log:
        raise UnknownTicket(f"no ticket {name} in the escalation log")
    if not any(entry["event_kind"] not in TIMER_KINDS for entry in log):
        raise FromTicketError(f"{name}: its escalation log holds no ticket event to rebuild a story from")
    return _Rebuild(platform, key, record, log, seed, load_matrix(rules)).scenario()


def scenario_yaml(scenario: dict) -> str:
    """The scenario as a YAML file that `load_scenario` reads: events one per line, short lists inline."""
    styled = {**scenario, "events": [_Flow(e) for e in scenario["events"]],
              "expect": [{k: _FlowList(v) if isinstance(v, list) else v for k, v in c.items()}
                         for c in scenario["expect"]]}
    header = ("# Rebuilt from a ticket's escalation log by `escalator drill --from-ticket`. Every name is\n"
              "# invented and every text rewritten; the checkpoints are what the matrix did at the time.\n")
    return header + yaml.dump(styled, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


class _Flow(dict):
    pass


class _FlowList(list):
    pass


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


class _Names:
    """Invented names, drawn in a fixed order from Faker instances seeded alike."""

    def __init__(self, seed: str, region: str, real: set[str]):
        self.local, self.staff = Faker(REGION_LOCALES[region][0]), Faker("en_US")
        self.local.seed_instance(seed)
        self.staff.seed_instance(seed)
        self.real = {name.casefold() for name in real if name}
        self.used: set[str] = set()
        self.by_id: dict[str, str] = {}

    def company(self) -> str:
        return self._fresh(self.local.company)

    def person(self, ident: str, *, local: bool = False) -> str:
        """The same invented name for the same platform id; the customer's people from their region."""
        faker = self.local if local else self.staff
        if ident not in self.by_id:
            self.by_id[ident] = self._fresh(lambda: f"{faker.first_name()} {faker.last_name()}")
        return self.by_id[ident]

    def _fresh(self, draw) -> str:
        while True:     # a name that neither repeats nor contains (or is part of) a real one
            name = draw()
            folded = name.casefold()
            if folded not in self.used and not any(r in folded or folded in r for r in self.real):
                self.used.add(folded)
                return name


class _Rebuild:
    """One ticket's log, read once, and the scenario it tells."""

    def __init__(self, platform: str, key: str, record, log: list[dict], seed: int, matrix: Matrix):
        self.platform, self.key, self.seed, self.matrix = platform, key, seed, matrix
        self.snapshot = dict(record.snapshot) if record else {}
        self.timers = dict(record.timers) if record else {}
        self.first = next(e for e in log if e["event_kind"] not in TIMER_KINDS)
        self.start = self.first["at"].replace(microsecond=0)
        self.log = [e for e in log if self.first["at"] <= e["at"] <= self.start + LONGEST]
        self.notes = [f"the log runs past {LONGEST.days} days, and the story stops there"] \
            if len(self.log) < len(log) else []
        self.rules = {rule.name: rule for rule in matrix.rules}
        self.tier, self.region, self.area = self._tier(), self._region(), self._area()
        self.reporter = self.snapshot.get("reporter") or self.first["actor"]
        real = {self.snapshot.get(k, "") for k in ("organization", "reporter_name", "account_manager")}
        self.names = _Names(f"{seed}:{platform}/{key}", self.region, real)
        self.agent = self._main_agent()
        self.summary, self.description = self._ticket_texts()

    def scenario(self) -> dict:
        customer = {"name": self.names.company(), "tier": self.tier, "region": self.region,
                    "contact": self.names.person(self.reporter, local=True)}
        if self.snapshot.get("account_manager"):
            customer["account_manager"] = self.names.person("account manager")
        data = {"name": "", "description": "", "seed": self.seed,
                "start": self.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "platform": self.platform}
        if self.agent:
            data["agent"] = self.names.person(self.agent)
        self.events = self._events()
        expect = self._checkpoints()
        until = max(self._offset(e["at"]) for e in self.log if _meaningful(e)) + TAIL
        data.update(name=self._title(), description=self._story())
        return {**data, "customer": customer, "ticket": self._ticket(), "events": list(self.events.values()),
                "until": format_offset(until), "expect": expect}

    def _title(self) -> str:
        levels = " → ".join(dict.fromkeys(e["decision"]["level"] for e in self.log if e["decision"].get("level")))
        return f"Real incident {self.platform}/{self.key}: {self._first('severity')} {self.area} ticket, {levels}"

    def _story(self) -> str:
        last = self.log[-1]["decision"]
        return (f"{self._customer_words()} reported a problem with {self.area} on {self.platform.title()}. The "
                f"matrix made it {self._first('severity')} at {self._first('level')}; the log ends at "
                f"{last.get('level')} with {last.get('owner') or 'no owner'}. Rebuilt from the escalation log of "
                f"{self.platform}/{self.key}: the customer and every person have invented names, and the "
                "customer's words are replaced by neutral text that keeps only the words the matrix's rules "
                "matched on. Events that changed nothing were never logged, so they are not here."
                + (f" Note: {'; '.join(self.notes)}." if self.notes else ""))

    def _first(self, field: str) -> str:
        return self.first["decision"].get(field) or "no " + field

    # -- facts of the ticket -----------------------------------------------------------------------

    def _tier(self) -> str:
        tier = str(self.snapshot.get("customer_tier") or self._traced("customer.tier") or "").casefold()
        if not tier:
            self.notes.append("the customer's tier is unknown, so free is assumed")
            return "free"
        if tier not in TIERS:
            raise FromTicketError(f"{self.platform}/{self.key}: customer tier {tier!r} is not one a scenario "
                                  f"can hold ({', '.join(TIERS)})")
        return tier

    def _region(self) -> str:
        region = str(self.snapshot.get("customer_region") or self._traced("customer.region") or "").upper()
        if region not in IN_REGION:
            self.notes.append(f"the customer's region {region or '(none)'} is not EU, US or APAC, so US is assumed")
            return "US"
        return region

    def _area(self) -> str:
        area = re.sub(r"[^a-z0-9_-]+", "-", str(self.snapshot.get("product_area") or "").casefold()).strip("-_")
        return area if re.match(r"[a-z]", area) else "general"

    def _traced(self, field: str):
        """A field's value as some rule's trace shows it."""
        return next((value for e in self.log if (value := _value(e, field)) is not None), None)

    def _ticket(self) -> dict:
        ticket = {"key": self._key(), "summary": self.summary, "description": self.description,
                  "product_area": self.area, "priority": self._first_priority(), "labels": self._labels()}
        requested = str(self.snapshot.get("requested_priority") or "").casefold()
        if requested in ("urgent", "high"):
            ticket["requested_priority"] = requested
        ticket["issue_type"] = ISSUE_TYPES.get(str(self.snapshot.get("issue_type", "")).casefold(), "Incident")
        return ticket

    def _key(self) -> str:
        number = int((re.findall(r"\d+", self.key) or ["1"])[-1])
        return f"SUP-{number}" if self.platform == "jira" else str(number)

    def _labels(self) -> list[str]:
        """The labels the ticket arrived with as a rule's trace saw them, else as last seen less ours."""
        shown = _value(self.first, "labels")
        ours = {label for e in self.log for label in e["changes"].get("labels", [[], []])[1]}
        labels = shown.split(", ") if shown is not None else \
            [label for label in self.snapshot.get("labels", ()) if label not in ours]
        derived = DERIVED_LABELS[self.platform]
        return [label for label in dict.fromkeys(labels) if label and not derived.fullmatch(label)]

    def _first_priority(self) -> str:
        """The priority the ticket arrived with: named by the first decision, else one that decides the same."""
        reason = self.first["decision"].get("reasons", {}).get("severity", "")
        if reason.startswith("priority:") and self._priority_name(reason[9:]):
            return self._priority_name(reason[9:])
        last_seen = self._priority_name(str(self.snapshot.get("priority", "")))
        ranks, severity = self.matrix.severity_rank, self.first["decision"].get("severity", "")
        seen_rank = ranks.get(self.matrix.severity_for_priority(self.platform, last_seen or ""), 99)
        by_hand = any(e["event_kind"] == "priority_changed" for e in self.log)
        if last_seen and not by_hand and seen_rank >= ranks.get(severity, 99):
            return last_seen        # not above what the first decision made of it: it did not decide
        return self._priority_for(severity)

    def _priority_name(self, priority: str) -> str | None:
        return next((n for n in PRIORITY_NAMES[self.platform] if n.casefold() == priority.strip().casefold()), None)

    def _priority_for(self, severity: str) -> str:
        found = self.matrix.severity(severity)
        return (self._priority_name(found.platform_priority.get(self.platform, "")) if found else None) \
            or PRIORITY_NAMES[self.platform][2]

    # -- people ------------------------------------------------------------------------------------

    def _is_customer(self, entry: dict) -> bool:
        by_agent = _value(entry, "comment.by_agent")
        if by_agent is not None:
            return by_agent == "False"
        return entry["actor"] == self.reporter or entry["actor"].startswith("qm:")    # Jira portal customers

    def _main_agent(self) -> str:
        acts = Counter(e["actor"] for e in self.log if e["event_kind"] not in TIMER_KINDS
                       and e["actor"] not in ("", TIMER_ACTOR) and not self._is_customer(e))
        return acts.most_common(1)[0][0] if acts else ""

    def _by(self, entry: dict) -> dict:
        if entry["actor"] in ("", self.agent, TIMER_ACTOR) or self._is_customer(entry):
            return {}
        return {"by": self.names.person(entry["actor"])}

    # -- events ------------------------------------------------------------------------------------

    def _events(self) -> dict[int, dict]:
        """The scenario event of each logged ticket event that a scenario can express, by id of its entry."""
        statuses, events, skipped, solved = self._statuses(), {}, Counter(), False
        human = self.first["decision"].get("human_severity", "")
        for entry in self.log:
            kind = entry["event_kind"]
            if kind in TIMER_KINDS:
                continue
            if entry is self.first:
                event = {"do": "created"}
            elif kind == "reopened" and not solved:
                event = None        # its resolution was never logged: the story cannot reopen it
            else:
                event = self._event(entry, statuses.get(id(entry)), human)
            human = entry["decision"].get("human_severity", human)
            if event is None:
                if kind != "priority_changed":      # not by hand: our own write-back coming back
                    skipped[kind.replace("_", " ")] += 1
                continue
            solved = {"resolved": True, "reopened": False}.get(event["do"], solved)
            events[id(entry)] = {"at": format_offset(self._offset(entry["at"])), **event}
        self.notes += [f"{count} {kind} event{'s' if count > 1 else ''} that a scenario cannot express "
                       f"{'are' if count > 1 else 'is'} left out"
                       for kind, count in sorted(skipped.items())]
        return events

    def _event(self, entry: dict, status: str | None, human_before: str) -> dict | None:
        kind = entry["event_kind"]
        if kind == "commented":
            return self._comment(entry)
        if kind == "assigned":
            return self._assigned(entry)
        if kind == "status_changed":
            return {"do": "status", "to": status or WORKING, **self._by(entry)}
        if kind == "priority_changed":
            to = self._hand_priority(entry, human_before)
            return {"do": "priority", "to": to, **self._by(entry)} if to else None
        if kind in ("resolved", "reopened"):
            return {"do": kind, **self._by(entry)}
        if kind == "satisfaction_rated" and self.platform == "zendesk":
            rating = str(_value(entry, "satisfaction.rating") or "good").casefold()
            return {"do": "rating", "rating": rating if rating in ("good", "bad") else "good"}
        return None

    def _comment(self, entry: dict) -> dict:
        if self._is_customer(entry):
            action = "customer_reply"
        else:
            action = "agent_reply" if _value(entry, "comment.public") == "True" else "internal_note"
        words = self._comment_words(entry)
        text = f"{SAYS[action]} (the original text is left out" + \
            (f"; it mentioned: {', '.join(words)})." if words else ").")
        return {"do": action, "text": text, **({} if action == "customer_reply" else self._by(entry))}

    def _assigned(self, entry: dict) -> dict | None:
        assignee = _value(entry, "assignee")
        if assignee is None and any("assignee" in rule.fields for rule in self.rules.values()):
            return None     # the matrix reads the assignee and saw none: the ticket was unassigned
        event = {"do": "assigned", **self._by(entry)}
        if assignee and assignee != entry["actor"]:
            event["to"] = self.names.person(assignee)
        return event

    def _hand_priority(self, entry: dict, human_before: str) -> str | None:
        """The priority an agent chose by hand; None for our own write-back coming back."""
        human = entry["decision"].get("human_severity", "")
        if not human or human == human_before:
            return None
        reason = entry["decision"].get("reasons", {}).get("severity", "")
        return (self._priority_name(reason[6:]) if reason.startswith("human:") else None) or self._priority_for(human)

    def _statuses(self) -> dict[int, str]:
        """Where each logged status change went. The log does not say: the ticket's last status names the
        last change, and before it changes alternate between working and waiting on the customer."""
        guess, found = STATUS_NAMES.get(str(self.snapshot.get("status", "")).casefold()), {}
        for entry in reversed(self.log):
            if entry["event_kind"] in ("resolved", "reopened"):
                guess = None
            elif entry["event_kind"] == "status_changed":
                told = entry["changes"].get("status", [None, None])[1] or _value(entry, "status")
                shown = STATUS_NAMES.get(str(told or "").casefold())
                found[id(entry)] = status = shown or (guess if guess in (WORKING, WAITING) else WORKING)
                guess = WORKING if status == WAITING else WAITING
        return found

    # -- text --------------------------------------------------------------------------------------

    def _ticket_texts(self) -> tuple[str, str]:
        """Summary and description from the facts, with the words the first decision's patterns matched."""
        summary, description = [], []
        full = {"summary": self.snapshot.get("summary", ""), "description": self.snapshot.get("description", "")}
        full["text"] = f"{full['summary']}\n{full['description']}"
        for field, pattern, value in self._patterns(self.first):
            word = _match(pattern, value) or _match(pattern, full.get(field))    # a trace cuts long values
            if word:
                (summary if field == "summary" else description).append(word)
        area = self._area_words()
        return (f"Problem with {area} reported by {self._customer_words().lower()}" + _mentioned(summary, ": "),
                f"{self._customer_words()} in {IN_REGION[self.region]} reports a problem with {area}. Their own "
                "words are left out of this drill" + _mentioned(description, "; the report mentioned: ") + ".")

    def _customer_words(self) -> str:
        return f"{'An' if self.tier[0] in 'aeiou' else 'A'} {self.tier} customer"

    def _area_words(self) -> str:
        """The product area, unless one of the matrix's patterns would read something into it."""
        patterns = [t.value for rule in self.rules.values() for t in tests_in(rule.when) if t.op == "matches"]
        return "the product" if any(re.search(p, self.area) for p in patterns) else self.area

    def _comment_words(self, entry: dict) -> list[str]:
        words: list[str] = []
        for field, pattern, value in self._patterns(entry):
            word = _match(pattern, value)
            said = f"{self.summary}\n{self.description}\n{' '.join(words)}"
            if word and (field == "comment" or field == "text" and not re.search(pattern, said)):
                words.append(word)
        return list(dict.fromkeys(words))

    def _patterns(self, entry: dict):
        """(field, pattern, value the trace shows) of each text pattern of the rules this entry matched."""
        for fired in _trace(entry):
            rule = self.rules.get(fired["rule"])
            for test in tests_in(rule.when) if rule else ():
                if test.op == "matches":
                    yield test.field, test.value, fired.get("values", {}).get(test.field)

    # -- checkpoints -------------------------------------------------------------------------------

    def _offset(self, at: datetime) -> timedelta:
        return timedelta(seconds=int((at - self.start).total_seconds()))

    def _checkpoints(self) -> list[dict]:
        """One checkpoint per moment the matrix did something new, with the whole state it left."""
        groups: dict[timedelta, list[dict]] = {}
        for entry in self.log:
            groups.setdefault(self._offset(entry["at"]), []).append(entry)
        marks, out = self._breach_marks(), []
        state, seen = {"severity": "", "level": "", "owner": "", "labels": []}, set()
        for offset, entries in groups.items():
            before = dict(state)
            for entry in entries:
                state.update({f: entry["changes"][f][1] for f in state if f in entry["changes"]})
            matched = list(dict.fromkeys(f["rule"] for e in entries for f in _trace(e) if f["rule"] not in seen))
            said = list(dict.fromkeys((c["situation"], c["channel"]) for e in entries
                                      for c in e.get("communications", ())))
            news = matched or set(said) - seen or any(e["event_kind"] == "sla_breached" for e in entries)
            seen.update(matched, said)
            changed = [f for f in ("severity", "level", "owner") if state[f] != before[f]]
            labels = [label for label in state["labels"] if label not in before["labels"]]
            if not ((news or changed or labels or entries[0] is self.first) and any(map(_meaningful, entries))):
                continue
            checkpoint = {"at": format_offset(offset), "why": self._why(entries, state, changed, labels, matched),
                          **{f: state[f] for f in ("severity", "level", "owner") if state[f]}}
            breached = _breached(marks, offset)
            for name, value in (("labels_include", labels), ("breached", breached), ("matched_include", matched),
                                ("messages_include", [{"situation": s, "channel": c} for s, c in said])):
                if value or name == "breached" and value is not None:
                    checkpoint[name] = value
            out.append(checkpoint)
        return out

    def _why(self, entries: list[dict], state: dict, changed: list[str], labels: list[str],
             matched: list[str]) -> str:
        happened = "; ".join(dict.fromkeys(map(self._happened, entries)))
        did = []
        if changed or entries[0] is self.first:
            did.append(f"puts it at {state['severity'] or 'no severity'}/{state['level']} with "
                       f"{state['owner'] or 'no owner'}")
        if labels:
            did.append(f"adds the label{'s' if len(labels) > 1 else ''} {', '.join(labels)}")
        if matched:
            did.append(f"matches the rule{'s' if len(matched) > 1 else ''} " + ", ".join(f'"{m}"' for m in matched))
        return f"{happened[:1].upper()}{happened[1:]}." + (f" The matrix {'; '.join(did)}." if did else "")

    def _happened(self, entry: dict) -> str:
        event = self.events.get(id(entry), {})
        if entry["event_kind"] == "sla_breached" and (timer := _value(entry, "timer") or self._fired(entry)):
            return f"the {timer} timer runs out"
        if event.get("do") == "rating":
            return f"{HAPPENED['rating']} {event['rating']}"
        return HAPPENED.get(event.get("do") or entry["event_kind"], entry["event_kind"].replace("_", " "))

    def _fired(self, entry: dict) -> str | None:
        """The timer whose breach this entry logged, by its firing time, while the ticket still keeps it."""
        return next((t.name for t in self.timers.values() if t.state == BREACHED and t.fired_at == entry["at"]), None)

    def _breach_marks(self) -> list[tuple[timedelta, str | None, bool]]:
        """(offset, timer or None when nothing names it, breached or re-armed), in time order. Offsets, not
        instants: the replay's clocks count from the start the story rounds down to the second."""
        marks, logged = [], set()
        for entry in self.log:
            if entry["event_kind"] == "sla_breached":
                name = _value(entry, "timer") or self._fired(entry)
                marks.append((entry["at"], name, True))
                logged.add((entry["at"], name))
            elif entry["event_kind"] == "reopened":   # a reopened ticket's clocks start over
                marks += [(entry["at"], t["name"], False) for t in entry["decision"].get("start_timers", ())]
        for timer in self.timers.values():
            if timer.recurring:
                continue
            if timer.state == BREACHED and timer.fired_at and (timer.fired_at, timer.name) not in logged:
                marks.append((timer.fired_at, timer.name, True))        # fired, and nothing was worth logging
            elif timer.state == RUNNING and timer.due_at:
                marks.append((timer.due_at, timer.name, True))          # past due with nothing listening
        return sorted(((self._offset(at), name, breach) for at, name, breach in marks), key=lambda mark: mark[0])


def _breached(marks: list[tuple[timedelta, str | None, bool]], at: timedelta) -> list[str] | None:
    """The timers breached by `at`; None when a breach the log shows does not name its timer."""
    breached: set[str] = set()
    for when, name, breach in marks:
        if when > at:
            break
        if name is None:
            return None
        (breached.add if breach else breached.discard)(name)
    return sorted(breached)


def _meaningful(entry: dict) -> bool:
    """Anything but a reminder or a lapsed cadence that changed nothing: those recur while a ticket is open."""
    return entry["event_kind"] not in ("sla_warning", "communication_stalled") or bool(entry["changes"])


def _trace(entry: dict) -> list[dict]:
    return entry["decision"].get("trace", [])


def _value(entry: dict, field: str) -> str | None:
    """A field's value as this entry's rule trace shows it; None when no matched rule read it."""
    return next((f["values"][field] for f in _trace(entry) if field in f.get("values", {})), None)


def _match(pattern: str, value) -> str | None:
    found = re.search(pattern, value) if isinstance(value, str) else None
    return (found.group(0).strip() or None) if found else None


def _mentioned(words: list[str], lead: str) -> str:
    return lead + ", ".join(dict.fromkeys(words)) if words else ""
