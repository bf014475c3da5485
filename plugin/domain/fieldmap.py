"""Fill customer tier, region, product area and account manager from the matrix's field map.

Parsers keep the platform's raw custom fields, labels and organization fields; where each
attribute comes from is the admin's choice, written in the matrix, not the parser's.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from .matrix import FieldSource
from .ticket import TicketEvent

ATTRIBUTES = ("customer_tier", "customer_region", "product_area", "account_manager", "requested_priority")


def apply_field_map(event: TicketEvent, sources: tuple[FieldSource, ...]) -> TicketEvent:
    """The event with each still-empty attribute read from its first source that has a value."""
    return FieldMap(sources).apply(event)


class FieldMap:
    """A matrix's field map, arranged once by platform: every event goes through it."""

    def __init__(self, sources: tuple[FieldSource, ...]):
        self._by_platform: dict[str, list[tuple[str, Callable[[TicketEvent], str], Mapping[str, str]]]] = {}
        for source in sources:
            self._by_platform.setdefault(source.platform, []).append(
                (source.attribute, _reader(source), source.values))

    def apply(self, event: TicketEvent) -> TicketEvent:
        """`apply_field_map(event, sources)`."""
        found: dict[str, str] = {}
        for attribute, read, values in self._by_platform.get(event.platform, ()):
            if attribute in found or getattr(event, attribute):
                continue
            value = read(event)
            if value:
                found[attribute] = values.get(value.casefold(), value)
        return replace(event, **found) if found else event


def _reader(source: FieldSource) -> Callable[[TicketEvent], str]:
    key = source.key
    if source.kind == "custom_field":
        return lambda event: _first_text(event.custom_fields.get(key))
    if source.kind == "organization_field":
        return lambda event: _first_text(event.organization_fields.get(key))
    if source.kind in ("label_prefix", "tag_prefix"):
        prefix = key.casefold()
        return lambda event: next((lb[len(prefix):] for lb in event.labels if lb.casefold().startswith(prefix)), "")
    if source.kind == "component":
        return lambda event: event.components[0] if event.components else ""
    if source.kind == "organization":
        return lambda event: event.organization
    return lambda event: ""


def _first_text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return "" if value is None else str(value).strip()
