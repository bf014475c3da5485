"""Where sensitive messages may go: private channels only, never anything the public or a whole chat sees.

A communication marked `sensitive: true` may only be an internal note or an email to named parties of
the matrix. A ticket labelled security, personal-data, gdpr or contract makes any message about it
sensitive content: it is withheld from the public comment, chat and status page; a generic webhook's
audience is unknown, so it is withheld there too.
"""
from __future__ import annotations

from collections.abc import Iterable

from .recipients import Recipient

PRIVATE_CHANNELS = frozenset({"internal_note", "email"})
SENSITIVE_LABELS = frozenset({"security", "personal-data", "gdpr", "contract"})


def is_allowed(channel: str, sensitive: bool) -> bool:
    """Whether a communication with this `sensitive` marking may use `channel` at all."""
    return not sensitive or channel in PRIVATE_CHANNELS


def sensitive_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """The ticket's labels that make its content sensitive, in a stable order."""
    return tuple(sorted({str(label).strip().casefold() for label in labels} & SENSITIVE_LABELS))


def refusal(channel: str, *, sensitive: bool, labels: Iterable[str] = ()) -> str | None:
    """Why a message may not go out on `channel`, or None when it may."""
    if not is_allowed(channel, sensitive):
        return f"withheld: sensitive (the communication is marked sensitive; {channel} is not private)"
    found = sensitive_labels(labels)
    if found and channel not in PRIVATE_CHANNELS:
        return f"withheld: sensitive (ticket labelled {', '.join(found)}; {channel} is not private)"
    return None


def private_recipients(recipients: Iterable[Recipient], *,
                       sensitive: bool) -> tuple[tuple[Recipient, ...], tuple[str, ...]]:
    """(kept, refusals): a sensitive communication only reaches addresses that come from the matrix."""
    kept, refused = [], []
    for recipient in recipients:
        if sensitive and not recipient.internal:
            refused.append(f"withheld: sensitive ({recipient.entry} {recipient.address} is not a named party)")
        else:
            kept.append(recipient)
    return tuple(kept), tuple(refused)
