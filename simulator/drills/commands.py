"""The terminal drill's command line: `severity critical -- enterprise outage` becomes an Action.

Kept apart from the terminal so the words a trainee types are tested without a terminal."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..scenarios import parse_offset
from .actions import Action

HELP = """\
Decisions (judged against the matrix; add ` -- why` to any command to record your rationale):
  severity NAME          level L1|L2|L3          owner TEAM-OR-PERSON
  exception apply NAME   exception refuse NAME
  message CHANNEL TEMPLATE [text]     e.g. message slack escalation_notice.md.j2
On the ticket (the matrix's timers see these):
  ack                    take the ticket (acknowledges it)
  update TEXT            public status update to the customer
  plan TEXT              post the remediation plan
  note TEXT              internal note for the decision log
  handover PERSON; TEXT  reassign with a handover note
  status Open|In Progress|Waiting for customer
  resolve [TEXT]         rca TEXT   (the root cause)
Drafted customer messages (the matrix drafts them for you to tailor; `drafts` shows them):
  send [#ID] [TEXT]      send the draft: with no TEXT as drafted, else your TEXT (\\n for a new line)
  discard [#ID] REASON   discard the draft; the reason goes in the escalation log
  (#ID only when the ticket has several drafts waiting)
The drill:
  show [KEY]   the ticket as the agent sees it     on KEY   act on another ticket
  drafts       the ticket's drafted messages
  as NAME      act as another trainee              log      your decisions so far
  next         jump to the next inject (step mode) wait 10m let time pass
  help         this text                            end      finish and see the score"""
ALIASES = {"ack": "acknowledge", "rca": "root_cause", "root-cause": "root_cause", "send": "send_draft",
           "discard": "discard_draft"}
TEXT_ACTIONS = ("update", "plan", "note", "resolve", "root_cause")
VALUE_ACTIONS = ("severity", "level", "owner", "status")
CONTROLS = ("show", "drafts", "on", "as", "log", "next", "wait", "help", "end", "quit")


class CommandError(ValueError):
    """A line the drill cannot understand, with what to type instead."""


@dataclass(frozen=True)
class Control:
    """A command about the drill itself rather than the ticket."""
    name: str
    argument: str = ""

    @property
    def duration(self) -> timedelta:
        try:
            return parse_offset("+" + self.argument.strip().lstrip("+"))
        except ValueError:
            raise CommandError(f"{self.argument!r} is not a duration; write e.g. 10m, 1h or 30s") from None


def parse(line: str, ticket: str = "", by: str = "") -> Action | Control | None:
    """One typed line as an action (stamped later with the drill's clock) or a control; None if blank."""
    line, _, rationale = line.partition(" -- ")
    words = line.strip().split(maxsplit=1)
    if not words:
        return None
    verb, rest = ALIASES.get(words[0].lower(), words[0].lower()), words[1].strip() if len(words) > 1 else ""
    if verb in CONTROLS:
        return Control("end" if verb == "quit" else verb, rest)
    base = {"at": timedelta(0), "do": verb, "ticket": ticket, "rationale": rationale.strip(), "by": by}
    return Action(**base, **_fields(verb, rest))


def _fields(verb: str, rest: str) -> dict:
    if verb == "acknowledge":
        return {}
    if verb in TEXT_ACTIONS:
        if not rest and verb != "resolve":
            raise CommandError(f"{verb} needs a text, e.g. `{verb} rolled back the 09:40 deploy`")
        return {"text": rest}
    if verb in VALUE_ACTIONS:
        if not rest:
            raise CommandError(f"{verb} needs a value, e.g. `{_example(verb)}`")
        return {"to": rest}
    if verb == "exception":
        return _exception(rest)
    if verb == "message":
        return _message(rest)
    if verb in ("send_draft", "discard_draft"):
        return _draft(verb, rest)
    if verb == "handover":
        person, _, text = rest.partition(";")
        if not person.strip():
            raise CommandError("handover needs a person, e.g. `handover Ana Lima; waiting on the DB team`")
        return {"to": person.strip(), "text": text.strip()}
    raise CommandError(f"unknown command {verb!r}; type `help` for the list")


def _exception(rest: str) -> dict:
    choice, _, name = rest.partition(" ")
    if choice not in ("apply", "refuse") or not name.strip():
        raise CommandError("write `exception apply NAME` or `exception refuse NAME`")
    return {"name": name.strip(), "apply": choice == "apply"}


def _message(rest: str) -> dict:
    parts = rest.split(maxsplit=2)
    if len(parts) < 2:
        raise CommandError("write `message CHANNEL TEMPLATE [text]`, e.g. `message slack escalation_notice.md.j2`")
    return {"channel": parts[0], "template": parts[1], "text": parts[2] if len(parts) > 2 else ""}


def _draft(verb: str, rest: str) -> dict:
    """`send #2 Hello…` or `discard no longer needed`: the draft's number only when it is written."""
    first, _, after = rest.partition(" ")
    number = first[1:] if first.startswith("#") else ""
    if first.startswith("#") and not number.isdigit():
        raise CommandError(f"{first!r} is not a draft number; write e.g. `#2`, as `drafts` shows it")
    words = after.strip() if number else rest
    if verb == "discard_draft":
        if not words:
            raise CommandError("discard needs a reason, e.g. `discard called the customer instead`")
        return {"draft": int(number or 0), "reason": words}
    return {"draft": int(number or 0), "text": words.replace("\\n", "\n")}


def _example(verb: str) -> str:
    return {"severity": "severity critical", "level": "level L2", "owner": "owner payments-eng",
            "status": "status Waiting for customer"}[verb]
