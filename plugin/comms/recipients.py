"""Who a communication reaches: `notify` entries resolved to addresses on one channel.

Entries are party names from the matrix or the roles requester, owner, assignee and
account_manager, read from the ticket. What cannot be resolved is returned as a problem for the
caller to log, so one missing address never stops the other recipients from hearing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from plugin.domain.matrix import Matrix, Party

TICKET_CHANNELS = ("ticket_comment", "internal_note")   # written on the ticket itself
CONFIGURED_CHANNELS = ("statuspage", "webhook")          # one destination, set in the environment
PARTY_CHANNELS = ("email", "slack", "teams")             # an address per party
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")


@dataclass(frozen=True)
class Recipient:
    """One address on one channel; `internal` when the address comes from the matrix, not ticket data."""
    entry: str          # the notify entry it came from
    channel: str
    address: str        # email, Slack channel or webhook URL, Teams webhook, "jira:SUP-1", or the channel name
    internal: bool


@dataclass(frozen=True)
class Resolved:
    recipients: tuple[Recipient, ...]
    problems: tuple[str, ...]

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(r.address for r in self.recipients)


def is_email(value: str) -> bool:
    return bool(_EMAIL.fullmatch(value or ""))


def resolve(notify: Iterable[str], channel: str, matrix: Matrix, ticket: Mapping, owner: str = "") -> Resolved:
    """Addresses for `notify` on `channel`; `ticket` holds platform, key, reporter, reporter_email, assignee
    and account_manager, `owner` is the current owner's party name."""
    notify = tuple(notify)
    if channel in TICKET_CHANNELS:
        return _on_ticket(notify, channel, ticket)
    if channel in CONFIGURED_CHANNELS:
        return Resolved((Recipient(",".join(notify), channel, channel, False),), ())
    if channel not in PARTY_CHANNELS:
        return Resolved((), (f"unknown channel {channel!r}",))
    found: dict[str, Recipient] = {}
    problems: list[str] = []
    for entry in notify:
        recipients, problem = _entry(entry, channel, matrix, ticket, owner)
        found.update((r.address, r) for r in recipients if r.address not in found)
        if problem:
            problems.append(f"{entry} on {channel}: {problem}")
    return Resolved(tuple(found.values()), tuple(problems))


def _on_ticket(notify: tuple[str, ...], channel: str, ticket: Mapping) -> Resolved:
    # Every entry reaches the same place: one comment on the ticket, public or internal.
    platform, key = ticket.get("platform") or "", ticket.get("key") or ""
    if not platform or not key:
        return Resolved((), (f"{channel}: the ticket has no platform and key to write on",))
    return Resolved((Recipient(",".join(notify), channel, f"{platform}:{key}", channel == "internal_note"),), ())


def _entry(entry: str, channel: str, matrix: Matrix, ticket: Mapping, owner: str):
    """(recipients, problem or "") for one notify entry."""
    if entry == "requester":
        return _requester(channel, ticket)
    if entry == "owner":
        return _party_named(entry, owner, channel, matrix) if owner else ((), "the ticket has no owner yet")
    if entry == "assignee":
        return _assignee(channel, matrix, ticket)
    if entry == "account_manager":
        return _account_manager(channel, matrix, ticket)
    return _party_named(entry, entry, channel, matrix)


def _requester(channel: str, ticket: Mapping):
    if channel != "email":
        return (), "customers are not reachable there; use ticket_comment or email"
    candidates = (str(ticket.get("reporter_email") or ""), str(ticket.get("reporter") or ""))
    address = next((c.strip() for c in candidates if is_email(c.strip())), "")
    if not address:
        return (), "the reporter's email address is not known"
    return (Recipient("requester", channel, address, False),), ""


def _assignee(channel: str, matrix: Matrix, ticket: Mapping):
    assignee = str(ticket.get("assignee") or "").strip()
    if not assignee:
        return (), "the ticket has no assignee"
    platform = str(ticket.get("platform") or "")
    party = next((p for p in matrix.parties.values()
                  if assignee in (p.name, p.assignee_for(platform), p.jira_account_id, p.zendesk_user_id)), None)
    if party is not None:
        return _party_addresses("assignee", party, channel, matrix)
    if channel == "email" and is_email(assignee):
        return (Recipient("assignee", channel, assignee, False),), ""
    return (), f"assignee {assignee!r} is not a party of the matrix"


def _account_manager(channel: str, matrix: Matrix, ticket: Mapping):
    value = str(ticket.get("account_manager") or (ticket.get("customer") or {}).get("account_manager") or "").strip()
    if not value:
        return (), "the ticket has no account manager"
    party = matrix.parties.get(value) or next(
        (p for p in matrix.parties.values() if p.email and p.email.casefold() == value.casefold()), None)
    if party is not None:
        return _party_addresses("account_manager", party, channel, matrix)
    if channel == "email" and is_email(value):
        return (Recipient("account_manager", channel, value, False),), ""
    return (), f"{value!r} is neither a party of the matrix nor an email address"


def _party_named(entry: str, name: str, channel: str, matrix: Matrix):
    party = matrix.parties.get(name)
    if party is None:
        return (), f"{name!r} is not a party of the matrix"
    return _party_addresses(entry, party, channel, matrix)


def _party_addresses(entry: str, party: Party, channel: str, matrix: Matrix):
    """The party's own address, else its members' (a team without a mailbox still reaches its people)."""
    own = _address(party, channel)
    if own:
        return (Recipient(entry, channel, own, True),), ""
    members = [matrix.parties[m] for m in party.members if m in matrix.parties]
    found = tuple(Recipient(entry, channel, a, True) for a in dict.fromkeys(_address(m, channel) for m in members) if a)
    return found, ("" if found else f"{party.name} has no valid {channel} address in the matrix")


def _address(party: Party, channel: str) -> str:
    value = (getattr(party, channel, "") or "").strip()
    return value if channel != "email" or is_email(value) else ""
