"""Drill and tabletop scenarios: a named story of timed ticket events, replayed through the matrix on a
virtual clock, with the escalation path it must take at each checkpoint.

The format is `simulator/scenario.schema.json`; `scenarios/README.md` explains it with examples.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import jsonschema

from plugin.domain.durations import parse_duration
from plugin.domain.timers import BREACHED, RUNNING
from plugin.matrix.yamlsrc import YamlDoc, YamlSyntaxError, load_yaml, path_text
from plugin.store.rows import timer_of

from .generator import Delivery, build_world
from .payloads import (
    JIRA_PRIORITY,
    JIRA_PRIORITY_IDS,
    ZENDESK_PRIORITY,
    ZENDESK_STATUS,
    ZENDESK_TYPE,
    Customer,
    Person,
    Ticket,
    jira_change,
    jira_issue_updated,
    jira_user,
    render,
    zendesk_tags,
    zendesk_trigger_body,
    zendesk_trigger_ticket,
)
from .replay import Replay, replay

SCHEMA_FILE = Path(__file__).with_name("scenario.schema.json")
OFFSET_PATTERN = r"^\+(\d+[smhdw])+$"
# Scenario priorities are Jira's or Zendesk's names; tickets keep the platform-neutral ones.
PRIORITIES = {"Highest": "critical", "Urgent": "critical", "High": "high", "Medium": "normal", "Normal": "normal",
              "Low": "low"}
STATUSES = {"Open": "new", "In Progress": "open", "Waiting for customer": "waiting", "Done": "solved"}
CUSTOMER_ACTIONS = frozenset({"created", "customer_reply", "rating"})
NO_TICKET_ACTIONS = frozenset({"more_reports", "silence", "duplicate_delivery"})
DEFAULT_AGENT = "Sam Okafor"
EXECUTIVE = "Priya Raman"
REPORT_SPACING = timedelta(seconds=20)      # more reports arrive one after another, not all in one instant
SAY = {
    "customer_reply": "Any news? This is still affecting all of our users.",
    "agent_reply": "Thanks for reporting this. We are looking into it now and will update you shortly.",
    "internal_note": "Investigating; checking the deployments of the last hour.",
    "exec_asks_status": "What is the status here? Their CEO just called me and I need something to tell them "
                        "within the hour.",
    "statuspage_up": "Status page incident posted: investigating reports of errors. Next status page update in "
                     "30 minutes.",
}


class ScenarioError(ValueError):
    """A scenario file that cannot be replayed; each problem names the file, line and YAML path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class TicketSpec:
    """A ticket as the scenario declares it, before any event changes it."""
    key: str
    customer: dict
    summary: str
    product_area: str
    description: str = ""
    labels: tuple[str, ...] = ()
    priority: str = "Medium"
    requested_priority: str | None = None
    issue_type: str = "Incident"

    @property
    def number(self) -> int:
        return _number(self.key)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; events and checkpoints stay the plain mappings the schema describes."""
    path: Path
    name: str
    description: str
    seed: int
    start: datetime
    platform: str
    agent: str
    tickets: tuple[TicketSpec, ...]         # the main ticket first
    events: tuple[dict, ...]
    until: timedelta
    expect: tuple[dict, ...]
    report_keys: tuple[str, ...] = ()      # the keys more_reports gives its tickets, in order
    drill: dict = field(default_factory=dict)   # how the story plays as a drill (simulator/drills)

    @property
    def main(self) -> str:
        return self.tickets[0].key

    def time(self, offset: str) -> datetime:
        """The instant of an offset such as `+15m`."""
        return self.start + parse_offset(offset)


def parse_offset(text: str) -> timedelta:
    """`+15m` as a timedelta; `+0m` is the start itself."""
    body = text[1:]
    if re.fullmatch(r"(0+[smhdw])+", body):
        return timedelta(0)
    return parse_duration(body)


# -- loading -----------------------------------------------------------------------------------

@cache
def schema() -> dict:
    """The scenario JSON Schema shipped beside this module."""
    return json.loads(SCHEMA_FILE.read_text())


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file; raise ScenarioError listing every problem."""
    path = Path(path)
    try:
        doc = load_yaml(str(path), path.read_text(encoding="utf-8"))
    except YamlSyntaxError as exc:
        raise ScenarioError([f"{path}:{exc.line or '?'}: {exc.message}"]) from None
    doc.data = _plain(doc.data)
    problems = schema_problems(doc)
    if problems:
        raise ScenarioError(problems)
    scenario = _scenario(path, doc.data)
    problems = [_located(doc, where, message) for where, message in story_problems(scenario)]
    if problems:
        raise ScenarioError(problems)
    return scenario


def _plain(value: object, key: str = "") -> object:
    """YAML's own types as the strings the schema expects: unquoted times, numeric Zendesk keys."""
    if isinstance(value, dict):
        return {k: _plain(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, key) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if key in ("key", "ticket") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def schema_problems(doc: YamlDoc) -> list[str]:
    """Schema violations in file order, each as `file:line: yaml.path: what is wrong; what to write`."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = map(_specific, validator.iter_errors(doc.data))
    found = [(tuple(e.absolute_path) + _unknown_key(e), _explain(e)) for e in errors]
    found.sort(key=lambda item: (doc.line(item[0]) or 0, path_text(item[0])))
    return [_located(doc, where, message) for where, message in found]


def _specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For anyOf failures, the sub-error that got furthest rather than the summary."""
    return (jsonschema.exceptions.best_match(error.context) or error) if error.context else error


def _unknown_key(error: jsonschema.ValidationError) -> tuple:
    # Point at the misspelt key itself, not at the mapping that holds it.
    unknown = _unknown_keys(error)
    return (unknown[0],) if unknown else ()


def _unknown_keys(error: jsonschema.ValidationError) -> list[str]:
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return [k for k in error.instance if k not in _allowed_keys(error.schema)]
    return []


def _allowed_keys(part: dict) -> list[str]:
    """The keys a mapping may have, including those of the definition it refers to."""
    keys = set(part.get("properties", {}))
    if "$ref" in part:
        keys |= set(schema()["$defs"][part["$ref"].rsplit("/", 1)[-1]].get("properties", {}))
    return sorted(keys)


def _explain(error: jsonschema.ValidationError) -> str:
    value, part = error.instance, error.schema
    if part.get("pattern") == OFFSET_PATTERN:
        return f"{value!r} is not an offset; write {part['description']}"
    if _unknown_keys(error):
        keys, allowed = _unknown_keys(error), _allowed_keys(part)
        close = [m for k in keys for m in difflib.get_close_matches(k, allowed, n=1)]
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys here: {', '.join(allowed)}"
        return f"unknown key {', '.join(map(repr, keys))}; {hint}"
    if error.validator == "enum":
        choices = [str(v) for v in error.validator_value]
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{value!r} is not allowed here; {hint}choose one of: {', '.join(choices)}"
    if error.validator == "pattern":
        return f"{value!r} is not valid here; expected {part.get('description') or 'a match for ' + part['pattern']}"
    return error.message


def _located(doc: YamlDoc, where: tuple, message: str) -> str:
    line = doc.line(where)
    return f"{doc.file}:{line or '?'}: {path_text(where) or '(top)'}: {message}"


def _scenario(path: Path, data: dict) -> Scenario:
    main = _ticket_spec(data["ticket"], data["customer"])
    others = tuple(_ticket_spec(t, t["customer"]) for t in data.get("other_tickets", ()))
    scenario = Scenario(path, data["name"], data["description"], data["seed"],
                        datetime.fromisoformat(data["start"].replace("Z", "+00:00")).astimezone(UTC),
                        data.get("platform", "jira"), data.get("agent", DEFAULT_AGENT), (main, *others),
                        tuple(data["events"]), parse_offset(data["until"]), tuple(data["expect"]))
    return replace(scenario, report_keys=_report_keys(scenario), drill=data.get("drill", {}))


def _ticket_spec(raw: dict, customer: dict) -> TicketSpec:
    values = {k: v for k, v in raw.items() if k != "customer"}
    values["labels"] = tuple(values.get("labels", ()))
    return TicketSpec(customer=customer, **values)


def _report_keys(scenario: Scenario) -> tuple[str, ...]:
    """The next free ticket numbers, one per report, in the order the reports arrive."""
    count = sum(e.get("n", 0) for e in scenario.events if e["do"] == "more_reports")
    first = max(t.number for t in scenario.tickets) + 1
    prefix = "SUP-" if scenario.platform == "jira" else ""
    return tuple(f"{prefix}{number}" for number in range(first, first + count))


# -- what a schema cannot say ------------------------------------------------------------------

def story_problems(scenario: Scenario) -> list[tuple[tuple, str]]:
    """(YAML path, message) for each event or checkpoint that cannot happen as written."""
    return _key_problems(scenario) + list(_event_problems(scenario)) + list(_checkpoint_problems(scenario))


def _key_problems(scenario: Scenario) -> list[tuple[tuple, str]]:
    problems, seen = [], set()
    for index, spec in enumerate(scenario.tickets):
        where = ("ticket", "key") if index == 0 else ("other_tickets", index - 1, "key")
        if (scenario.platform == "jira") != spec.key.startswith("SUP-"):
            problems.append((where, f"{spec.key!r} is not a {scenario.platform} key; write "
                                    + ("SUP-<number>" if scenario.platform == "jira" else "the ticket number")))
        if spec.key in seen:
            problems.append((where, f"ticket {spec.key} is declared twice"))
        seen.add(spec.key)
    return problems


def _event_problems(scenario: Scenario) -> Iterator[tuple[tuple, str]]:
    status = {spec.key: None for spec in scenario.tickets}       # None until created
    previous, any_delivery = timedelta(0), False
    for index, event in enumerate(scenario.events):
        where, at = ("events", index), parse_offset(event["at"])
        if at < previous:
            yield where + ("at",), (f"{event['at']} comes before {format_offset(previous)} of an event above it; "
                                    "list events in time order")
        if at > scenario.until:
            yield where + ("at",), f"{event['at']} is after `until` ({format_offset(scenario.until)})"
        previous = max(previous, at)
        problem = _event_problem(scenario, event, status, any_delivery)
        if problem:
            yield where + (problem[0],), problem[1]
        any_delivery = any_delivery or event["do"] not in ("silence",)


def _event_problem(scenario: Scenario, event: dict, status: dict, any_delivery: bool) -> tuple[str, str] | None:
    action = event["do"]
    if action == "rating" and scenario.platform != "zendesk":
        return "do", "ratings arrive from Zendesk only; set `platform: zendesk`"
    if action == "duplicate_delivery" and not any_delivery:
        return "do", "there is no earlier delivery to send again"
    if "by" in event and action in CUSTOMER_ACTIONS:
        return "by", f"{action} is done by the customer's contact; set `customer.contact` instead"
    if action in NO_TICKET_ACTIONS:
        return ("ticket", f"{action} names no ticket") if "ticket" in event else None
    key = event.get("ticket", scenario.main)
    if key not in status:
        return "ticket", f"no ticket {key} is declared; declare it under other_tickets"
    return _lifecycle_problem(key, action, event, status)


def _lifecycle_problem(key: str, action: str, event: dict, status: dict) -> tuple[str, str] | None:
    """Updates the ticket's status as the event would; a problem when the event cannot happen now."""
    if action == "created":
        if status[key] is not None:
            return "do", f"{key} was already created"
        status[key] = "new"
        return None
    if status[key] is None:
        return "do", f"{key} does not exist yet; it needs a `created` event first"
    if action == "reopened" and status[key] != "solved":
        return "do", f"{key} is not resolved, so it cannot be reopened"
    status[key] = {"resolved": "solved", "reopened": "open"}.get(action, status[key])
    if action == "status":
        status[key] = STATUSES[event["to"]]
    return None


def _checkpoint_problems(scenario: Scenario) -> Iterator[tuple[tuple, str]]:
    known = {spec.key for spec in scenario.tickets} | set(scenario.report_keys) | {"*"}
    for index, checkpoint in enumerate(scenario.expect):
        if parse_offset(checkpoint["at"]) > scenario.until:
            yield ("expect", index, "at"), f"{checkpoint['at']} is after `until` ({format_offset(scenario.until)})"
        if checkpoint.get("ticket", scenario.main) not in known:
            yield ("expect", index, "ticket"), (f"no ticket {checkpoint['ticket']} in this story; known: "
                                                + ", ".join(sorted(known - {'*'})))


def format_offset(delta: timedelta) -> str:
    """A timedelta as the `+1h30m` offsets scenarios are written in."""
    seconds, parts = int(delta.total_seconds()), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "+" + ("".join(parts) or "0m")


# -- the deliveries ----------------------------------------------------------------------------

def deliveries(scenario: Scenario) -> list[Delivery]:
    """The webhook requests the story makes, in the platform's real payload shapes."""
    return Story(scenario).play()


class Story:
    """The tickets as they change, and the requests each event sends."""

    def __init__(self, scenario: Scenario):
        self.s = scenario
        self.tickets = {spec.key: _ticket(scenario, spec) for spec in scenario.tickets}
        self.out: list[Delivery] = []
        self.serial = 30064117800000
        self.reports = iter(scenario.report_keys)
        self.rng = random.Random(scenario.seed)

    def play(self) -> list[Delivery]:
        for event in self.s.events:
            self.emit(event, self.s.time(event["at"]))
        return self.out

    def emit(self, event: dict, at: datetime) -> list[Delivery]:
        """The requests one event sends at `at`; drills play a story one event at a time."""
        special = {"silence": self._silence, "duplicate_delivery": self._duplicate_delivery,
                   "more_reports": self._more_reports}
        sent = len(self.out)
        special.get(event["do"], self._ticket_event)(event, at)
        return self.out[sent:]

    def _ticket_event(self, event: dict, at: datetime) -> None:
        ticket = self.tickets[event.get("ticket", self.s.main)]
        if event["do"] == "created":
            ticket.created = at
        actor = self._actor(event, ticket)
        self.send(ticket, at, *_change(ticket, event, actor))

    def _actor(self, event: dict, ticket: Ticket) -> Person:
        if event["do"] == "exec_asks_status":
            return _person(event.get("by", EXECUTIVE), "example.com", "exec-escalations")
        if event["do"] in CUSTOMER_ACTIONS or event["do"] == "reopened" and "by" not in event:
            return ticket.reporter
        return _person(event.get("by", self.s.agent), "example.com", "support-oncall")

    def _silence(self, event: dict, at: datetime) -> None:
        """Nothing happens: the gap is the point."""

    def _duplicate_delivery(self, event: dict, at: datetime) -> None:
        # The platform retries with the same delivery id and body, e.g. after a timed-out answer.
        last = self.out[-1]
        self.out += [replace(last, at=at) for _ in range(event.get("times", 1))]

    def _more_reports(self, event: dict, at: datetime) -> None:
        main = self.tickets[self.s.main]
        for index, customer in enumerate(self._other_customers(event["n"])):
            key = next(self.reports)
            ticket = replace(main, number=_number(key), customer=customer, reporter=customer.contacts[0],
                             requested_priority=None, labels=(), summary=event.get("text", main.summary),
                             status="new", assignee=None, created=at + index * REPORT_SPACING)
            self.tickets[key] = ticket
            self.send(ticket, ticket.created, "created", ticket.reporter, None, None)

    def _other_customers(self, count: int) -> list[Customer]:
        world = _world(self.s.seed)
        others = [c for c in world if c.name != self.tickets[self.s.main].customer.name]
        return self.rng.sample(others, count)

    def send(self, ticket: Ticket, at: datetime, action: str, actor: Person, value: object, previous: object) -> None:
        self.serial += 1
        body = _body(ticket, at, action, actor, value, previous, self.serial, self._uid())
        self.out.append(Delivery(at, self.s.platform, self._headers(), json.dumps(body).encode()))

    def _uid(self) -> str:
        digest = hashlib.blake2b(f"{self.s.seed}:{self.serial}".encode(), digest_size=16).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"

    def _headers(self) -> dict[str, str]:
        if self.s.platform == "jira":
            return {"Content-Type": "application/json", "User-Agent": "Atlassian Webhook HTTP Client",
                    "X-Atlassian-Webhook-Identifier": self._uid()}
        return {"Content-Type": "application/json", "User-Agent": "Zendesk Webhook",
                "X-Zendesk-Webhook-Invocation-Id": str(self.serial)}


@cache
def _world(seed: int) -> tuple[Customer, ...]:
    return build_world(seed).customers


def _number(key: str) -> int:
    return int(key.rsplit("-", 1)[-1])


def _ticket(scenario: Scenario, spec: TicketSpec) -> Ticket:
    customer = _customer(spec.customer)
    return Ticket(scenario.platform, spec.number, customer, customer.contacts[0], spec.product_area, spec.issue_type,
                  PRIORITIES[spec.priority], spec.requested_priority, spec.labels, spec.summary,
                  spec.description or spec.summary, scenario.start)


def _customer(raw: dict) -> Customer:
    domain = _slug(raw["name"]) + ".example.com"
    contact = _person(raw.get("contact", f"{raw['name']} IT"), domain)
    manager = _person(raw["account_manager"], "example.com", "account-management") \
        if raw.get("account_manager") else None
    return Customer(raw["name"], raw["tier"], raw["region"], (contact,), manager, _digits(raw["name"]))


def _person(name: str, domain: str, team: str = "") -> Person:
    """Someone with stable ids derived from their name: customers get portal (`qm:`) Jira accounts."""
    digest = hashlib.blake2b(name.encode(), digest_size=16).hexdigest()
    jira_id = f"5b10{digest[:20]}" if team else f"qm:{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}"
    return Person(name, f"{_slug(name, '.')}@{domain}", jira_id, _digits(name), team)


def _digits(text: str) -> str:
    return str(10**12 + int(hashlib.blake2b(text.encode(), digest_size=8).hexdigest(), 16) % (9 * 10**12))


def _slug(text: str, joiner: str = "") -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return joiner.join(words)[:40] or "customer"


def _change(ticket: Ticket, event: dict, actor: Person) -> tuple[str, Person, object, object]:
    """Apply the event to the ticket: (render action, actor, value, previous value)."""
    action, text = event["do"], event.get("text")
    if action == "created":
        if text:
            ticket.description = text
        return "created", actor, None, None
    if action in ("customer_reply", "agent_reply"):
        return _comment(ticket, "comment", actor, text or SAY[action])
    if action in ("internal_note", "exec_asks_status", "statuspage_up"):
        return _comment(ticket, "note", actor, text or SAY[action])
    if action == "assigned":
        previous, ticket.assignee = ticket.assignee, _person(event.get("to", actor.name), "example.com", actor.team)
        return "assign", actor, ticket.assignee, previous
    if action == "priority":
        previous, ticket.priority = ticket.priority, PRIORITIES[event["to"]]
        return "priority", actor, ticket.priority, previous
    if action == "rating":
        return "csat", actor, (event["rating"], text or ""), None
    new = {"resolved": "solved", "reopened": "open"}.get(action) or STATUSES[event["to"]]
    previous, ticket.status = ticket.status, new
    return "status", actor, new, previous


def _comment(ticket: Ticket, action: str, actor: Person, text: str) -> tuple[str, Person, object, object]:
    ticket.last_comment = (text, actor.name, action == "comment")
    return action, actor, text, None


# -- payloads ----------------------------------------------------------------------------------

def _body(ticket: Ticket, at: datetime, action: str, actor: Person, value: object, previous: object,
          serial: int, uid: str) -> dict:
    if ticket.platform == "zendesk":
        return _zendesk_trigger(ticket, at, action, actor, value, previous)
    if action == "priority":
        return _jira_priority(ticket, at, actor, value, previous, serial)
    return render(ticket, at, action, actor, value, previous, serial, uid)


def _jira_priority(ticket: Ticket, at: datetime, actor: Person, value: str, previous: str, serial: int) -> dict:
    """An agent changing the priority by hand: an update whose changelog has the priority item."""
    issue = render(ticket, at, "created", actor, None, None, serial, "")["issue"]
    old, new = JIRA_PRIORITY[previous], JIRA_PRIORITY[value]
    item = jira_change("priority", old, new, from_id=JIRA_PRIORITY_IDS[old], to_id=JIRA_PRIORITY_IDS[new])
    return jira_issue_updated(issue, jira_user(actor.jira_id, actor.name, customer=not actor.team), at, [item],
                              changelog_id=str(serial))


# The matrix reads the Zendesk tier from an organization field, which only the trigger body carries
# (docs/zendesk-trigger-body.md); so every Zendesk event of a scenario arrives through a trigger.
ZENDESK_TRIGGER_EVENTS = {"created": "created", "comment": "commented", "note": "commented", "assign": "assigned",
                          "priority": "priority_changed", "csat": "satisfaction_rated"}


def _zendesk_trigger(ticket: Ticket, at: datetime, action: str, actor: Person, value: object,
                     previous: object) -> dict:
    event = ZENDESK_TRIGGER_EVENTS.get(action) or _zendesk_status_event(value, previous)
    role = "Agent" if actor.team else "End user"
    rating = value if action == "csat" else None
    return zendesk_trigger_body(event, _zendesk_trigger_ticket(ticket, at), {"email": actor.email, "role": role},
                                rating)


def _zendesk_status_event(new: object, previous: object) -> str:
    if new == "solved":
        return "resolved"
    return "reopened" if previous == "solved" else "status_changed"


def _zendesk_trigger_ticket(ticket: Ticket, at: datetime) -> dict:
    customer, requester = ticket.customer, ticket.reporter
    fields = {"customer_tier": customer.tier.title(), "region": customer.region}
    if customer.account_manager:
        fields["account_manager"] = customer.account_manager.name
    body, author, public = ticket.last_comment
    return zendesk_trigger_ticket(
        ticket.key, title=ticket.summary, description=ticket.description, status=ZENDESK_STATUS[ticket.status],
        priority=ZENDESK_PRIORITY[ticket.priority], ticket_type=ZENDESK_TYPE[ticket.issue_type],
        tags=zendesk_tags(ticket), updated=at, requester={"email": requester.email, "name": requester.name},
        assignee_email=ticket.assignee.email if ticket.assignee else "", organization=customer.name,
        organization_fields=fields, area=ticket.area,
        latest_comment={"body": body, "author": author, "public": "true" if public else "false"})


# -- running and checking ----------------------------------------------------------------------

def run(scenario: Scenario, rules: str | Path = "rules", engine: str = "python",
        until: timedelta | None = None) -> Replay:
    """Replay the story up to `until` (the scenario's own end by default)."""
    end = scenario.start + (scenario.until if until is None else until)
    return replay(deliveries(scenario), rules, engine=engine, until=end)


def check(scenario: Scenario, rules: str | Path = "rules", engine: str = "python") -> list[str]:
    """Every expectation that does not hold, as `at +16m SUP-1 level: expected L2, got L1`."""
    built, runs, failures = deliveries(scenario), {}, []
    for checkpoint in scenario.expect:
        if checkpoint["at"] not in runs:    # checkpoints at the same time share one replay
            runs[checkpoint["at"]] = replay(built, rules, engine=engine, until=scenario.time(checkpoint["at"]))
        failures += checkpoint_failures(scenario, checkpoint, runs[checkpoint["at"]])
    return failures


def check_checkpoint(scenario: Scenario, checkpoint: dict, rules: str | Path = "rules",
                     engine: str = "python") -> list[str]:
    """The failures of one checkpoint, replaying the story up to its time."""
    result = replay(deliveries(scenario), rules, engine=engine, until=scenario.time(checkpoint["at"]))
    return checkpoint_failures(scenario, checkpoint, result)


def checkpoint_failures(scenario: Scenario, checkpoint: dict, result: Replay) -> list[str]:
    """What differs from the checkpoint in a replay that stopped at its time."""
    failures = [f"{name}: expected {want}, got {got}" for name, want, got in _run_checks(result, checkpoint)]
    for key in _checked_keys(scenario, checkpoint, result):
        failures += [f"{key} {problem}" for problem in _ticket_failures(result, scenario.platform, key, checkpoint)]
    return [f"at {checkpoint['at']} {failure}" for failure in failures]


def _checked_keys(scenario: Scenario, checkpoint: dict, result: Replay) -> list[str]:
    key = checkpoint.get("ticket", scenario.main)
    if key != "*":
        return [key]
    return sorted((k for p, k in result.store.tickets if p == scenario.platform), key=_number)


def _run_checks(result: Replay, checkpoint: dict) -> Iterator[tuple[str, object, object]]:
    tickets = len(result.store.tickets)
    for name, got in (("duplicates", result.duplicates), ("tickets", tickets)):
        if name in checkpoint and checkpoint[name] != got:
            yield name, checkpoint[name], got


def _ticket_failures(result: Replay, platform: str, key: str, checkpoint: dict) -> list[str]:
    row = result.store.tickets.get((platform, key))
    if row is None:
        return ["does not exist yet: no delivery about it was accepted by then"]
    view = _TicketView(result, platform, key, row)
    return [problem for check in CHECKS for problem in check(view, checkpoint)]


@dataclass
class _TicketView:
    """What a checkpoint can see of one ticket: its state, timers and escalation log."""
    result: Replay
    platform: str
    key: str
    row: dict

    @property
    def timers(self) -> list[dict]:
        return self.result.store.timers_of(self.platform, self.key)

    @property
    def log(self) -> list[dict]:
        return self.result.store.log_by_ticket.get((self.platform, self.key), [])

    def timers_in(self, state: str) -> list[str]:
        """Timers by state at the end of the replay; a deadline passed unfired counts as breached."""
        return sorted(t["name"] for t in self.timers if _state_at(t, self.result.ended) == state)

    def matched(self) -> list[str]:
        return list(dict.fromkeys(f["rule"] for e in self.log for f in e["decision"].get("trace", [])))

    def messages(self) -> list[dict]:
        return [c for e in self.log for c in e["communications"]]


def _scalars(view: _TicketView, checkpoint: dict) -> list[str]:
    return [f"{name}: expected {checkpoint[name]}, got {view.row[name] or '(none)'}"
            for name in ("severity", "level", "owner") if name in checkpoint and checkpoint[name] != view.row[name]]


def _labels(view: _TicketView, checkpoint: dict) -> list[str]:
    have = view.row["labels"]
    return _includes("labels", checkpoint.get("labels_include", ()), have) \
        + _excludes("labels", checkpoint.get("labels_exclude", ()), have)


def _timers(view: _TicketView, checkpoint: dict) -> list[str]:
    problems = []
    if "breached" in checkpoint and sorted(checkpoint["breached"]) != view.timers_in("breached"):
        problems.append(f"breached: expected {sorted(checkpoint['breached'])}, got {view.timers_in('breached')}")
    for state in ("running", "paused"):
        problems += _includes(state, checkpoint.get(state, ()), view.timers_in(state))
    return problems + _due(view, checkpoint.get("due", {}))


def _due(view: _TicketView, due: dict) -> list[str]:
    problems, timers = [], {t["name"]: t for t in view.timers}
    for name, text in due.items():
        want = datetime.fromisoformat(text.replace("Z", "+00:00"))
        got = timers.get(name, {}).get("due_at")
        if got != want:
            shown = got.astimezone(want.tzinfo).isoformat() if got else f"no due time (state {_state(timers, name)})"
            problems.append(f"{name} due: expected {want.isoformat()}, got {shown}")
    return problems


def _state_at(row: dict, now: datetime) -> str:
    timer = timer_of(row)
    return BREACHED if not timer.recurring and timer.breached_at(now) and timer.state == RUNNING else timer.state


def _state(timers: dict, name: str) -> str:
    return timers[name]["state"] if name in timers else "never started"


def _matched(view: _TicketView, checkpoint: dict) -> list[str]:
    matched = view.matched()
    return _includes("matched", checkpoint.get("matched_include", ()), matched) \
        + _excludes("matched", checkpoint.get("matched_exclude", ()), matched)


def _messages(view: _TicketView, checkpoint: dict) -> list[str]:
    messages = view.messages()
    shown = sorted({f"{m['situation']}/{m['channel']}" for m in messages})
    problems = [f"messages: expected {_message_text(want)}, got {shown}"
                for want in checkpoint.get("messages_include", ()) if not any(_is(m, want) for m in messages)]
    unwanted = [u for u in checkpoint.get("messages_exclude", ()) if any(_is(m, u) for m in messages)]
    return problems + [f"messages: expected no {_message_text(u)}, got one" for u in unwanted]


def _is(message: dict, want: dict) -> bool:
    if (message["situation"], message["channel"]) != (want["situation"], want["channel"]):
        return False
    if "withheld" not in want:
        return True
    withheld = bool(message["withheld"]) and not message["sent"]
    return withheld == want["withheld"]


def _message_text(want: dict) -> str:
    text = f"{want['situation']}/{want['channel']}"
    if "withheld" in want:
        text += " withheld" if want["withheld"] else " sent"
    return text


def _logged(view: _TicketView, checkpoint: dict) -> list[str]:
    counts = Counter(e["event_kind"] for e in view.log)
    return [f"logged {kind}: expected {want}, got {counts[kind]}"
            for kind, want in checkpoint.get("logged", {}).items() if counts[kind] != want]


def _includes(name: str, wanted, have) -> list[str]:
    missing = [w for w in wanted if w not in have]
    return [f"{name}: expected to include {', '.join(missing)}, got {list(have) or '(none)'}"] if missing else []


def _excludes(name: str, unwanted, have) -> list[str]:
    present = [u for u in unwanted if u in have]
    return [f"{name}: expected not to include {', '.join(present)}, got {list(have)}"] if present else []


CHECKS = (_scalars, _labels, _timers, _matched, _messages, _logged)


def scenario_files(directory: str | Path = "scenarios") -> list[Path]:
    """The scenario files of a directory, in name order."""
    return sorted(Path(directory).glob("*.yaml"))
