"""Fill customer tier, region, product area and account manager from the matrix's field map.

Parsers keep the platform's raw custom fields, labels and organization fields; where each
attribute comes from is the admin's choice, written in the matrix, not the parser's.
"""
from __future__ import annotations

from dataclasses import replace

from .matrix import FieldSource
from .ticket import TicketEvent

ATTRIBUTES = ("customer_tier", "customer_region", "product_area", "account_manager", "requested_priority")


def apply_field_map(event: TicketEvent, sources: tuple[FieldSource, ...]) -> TicketEvent:
    """The event with each still-empty attribute read from its first source that has a value."""
    found: dict[str, str] = {}
    for source in sources:
        if source.platform != event.platform or source.attribute in found:
            continue
        if getattr(event, source.attribute):
            continue
        value = _read(source, event)
        if value:
            found[source.attribute] = source.values.get(value.casefold(), value)
    return replace(event, **found) if found else event


def _read(source: FieldSource, event: TicketEvent) -> str:
    if source.kind == "custom_field":
        return _first_text(event.custom_fields.get(source.key))
    if source.kind == "organization_field":
        return _first_text(event.organization_fields.get(source.key))
    if source.kind in ("label_prefix", "tag_prefix"):
        prefix = source.key.casefold()
        return next((lb[len(prefix):] for lb in event.labels if lb.casefold().startswith(prefix)), "")
    if source.kind == "component":
        return event.components[0] if event.components else ""
    if source.kind == "organization":
        return event.organization
    return ""


def _first_text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return "" if value is None else str(value).strip()
