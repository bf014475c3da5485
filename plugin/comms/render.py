"""Rendering a communication template against the documented message context.

Ticket text is written by customers: it only ever enters a template as a value, and Jinja never
parses values as template code, so `{{ ... }}` in a summary is printed as written.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import SecurityError

from plugin.domain.durations import format_duration
from plugin.domain.errors import EscalatorError
from plugin.domain.matrix import Matrix
from plugin.matrix.templates import environment

MAX_MESSAGE_CHARS = 20_000
MAX_RANGE = 1_000              # the sandbox allows range(100_000); messages never need that many
MAX_TIMELINE = 50              # most recent entries; an old ticket's full history would drown a brief
TEXT_LIMITS = {"summary": 300, "description": 4_000, "workaround": 2_000}
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"
_ONE_LINE = re.compile(r"[\s\x00-\x1f\x7f\u2028\u2029]+")


class RenderError(EscalatorError):
    """A template could not be rendered; the message names the template, the line and the cause."""

    def __init__(self, template: str, reason: str, line: int | None = None):
        self.template, self.reason, self.line = template, reason, line
        where = f"{template} line {line}" if line else template
        super().__init__(f"template {where}: {reason}")


def render_message(templates_dir: Path | str, template_name: str, context: Mapping) -> str:
    """The rendered text; raises RenderError for anything the template gets wrong."""
    env = _environment(str(templates_dir))
    try:
        template = env.get_template(template_name)
        return _capped(template.generate(dict(context)), template_name)
    except RenderError:
        raise
    except TemplateNotFound:
        failure = RenderError(template_name, f"not found in {Path(templates_dir).name}/")
    except TemplateSyntaxError as exc:
        failure = RenderError(template_name, f"syntax: {exc.message}", exc.lineno)
    except SecurityError as exc:
        failure = RenderError(template_name, f"blocked by the sandbox: {exc}", _line_of(exc, template_name))
    except UndefinedError as exc:
        failure = RenderError(template_name, f"undefined variable: {exc.message}", _line_of(exc, template_name))
    # Anything else raised while running template code (a filter on the wrong type, 1/0, ...) is still
    # the template's fault, and must reach the caller as one error it can log.
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        failure = RenderError(template_name, f"{type(exc).__name__}: {exc}", _line_of(exc, template_name))
    raise failure


def uses_variable(templates_dir: Path | str, template_name: str, variable: str) -> bool:
    """Whether the template reads `variable`, so costly context (a ticket's whole log) is built only when used."""
    return variable in _variables(str(templates_dir), template_name)


def template_variables(templates_dir: Path | str, template_name: str) -> frozenset[str]:
    """The top-level variables a template reads (none if it does not parse)."""
    return _variables(str(templates_dir), template_name)


def _variables(templates_dir: str, template_name: str) -> frozenset[str]:
    env = _environment(templates_dir)
    try:
        source = env.loader.get_source(env, template_name)[0]
        return frozenset(meta.find_undeclared_variables(env.parse(source)))
    except TemplateError:
        return frozenset()      # rendering reports the problem itself


@lru_cache(maxsize=8)
def _environment(templates_dir: str):
    # One environment per folder keeps compiled templates cached; the loader still notices edits.
    env = environment(Path(templates_dir))
    env.globals["range"] = _small_range
    return env


def _small_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverflowError(f"range() of {len(numbers)} items; templates may loop at most {MAX_RANGE} times")
    return numbers


def _capped(chunks: Iterable[str], template_name: str) -> str:
    """Join streamed output, stopping as soon as it is too long, so a runaway loop ends early."""
    out, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_MESSAGE_CHARS:
            raise RenderError(template_name, f"the message is longer than {MAX_MESSAGE_CHARS} characters")
        out.append(chunk)
    return "".join(out)


def _line_of(exc: BaseException, template_name: str) -> int | None:
    """The template line a render error came from; Jinja rewrites tracebacks to point there."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith("/" + template_name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def message_context(ticket: Mapping, matrix: Matrix, *, severity: str, level: str, owner: str,
                    timers: Iterable[Mapping] = (), timeline: Iterable[Mapping] = (), reason: str = "",
                    now: datetime, next_update_due: datetime | None = None) -> dict:
    """The context every template may use (see `plugin.matrix.templates.sample_context`), from plain values.

    `ticket` uses the context's own keys; TicketEvent's flat names (customer_tier, organization, ...) also work.
    """
    timers = list(timers)
    due = next_update_due or next((t.get("due") for t in timers if t.get("name") == "update"), None)
    return {
        "ticket": ticket_context(ticket),
        "severity": _severity(matrix, severity),
        "level": _level(matrix, level),
        "owner": _owner(matrix, owner),
        "timers": [_timer(t, now) for t in timers],
        "next_update_due": format_time(due),
        "timeline": [_entry(e) for e in list(timeline)[-MAX_TIMELINE:]],
        "reason": one_line(reason),
    }


def ticket_context(ticket: Mapping) -> dict:
    """The `ticket` part of the context: plain strings, customer text cut to size."""
    customer = ticket.get("customer") or {}
    return {
        "key": one_line(ticket.get("key")), "platform": one_line(ticket.get("platform")),
        "summary": _cut(one_line(ticket.get("summary")), "summary"),
        "description": _cut(_text(ticket.get("description")), "description"),
        "status": one_line(ticket.get("status")), "priority": one_line(ticket.get("priority")),
        "url": one_line(ticket.get("url")), "reporter": one_line(ticket.get("reporter")),
        "assignee": one_line(ticket.get("assignee")),
        "labels": [one_line(label) for label in ticket.get("labels") or ()],
        "workaround": _cut(_text(ticket.get("workaround")), "workaround"),
        "product_area": one_line(ticket.get("product_area")),
        "customer": {
            "name": one_line(customer.get("name") or ticket.get("customer_name") or ticket.get("organization")),
            "tier": one_line(customer.get("tier") or ticket.get("customer_tier")),
            "region": one_line(customer.get("region") or ticket.get("customer_region")),
            "account_manager": one_line(customer.get("account_manager") or ticket.get("account_manager")),
        },
    }


def format_time(value: datetime | str | None) -> str:
    """`2026-11-29 10:15 UTC`; naive datetimes are taken as UTC, strings pass through."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return one_line(value)
    return _aware(value).astimezone(UTC).strftime(TIME_FORMAT)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def one_line(value: object) -> str:
    """Text for a one-line slot: line breaks and control characters become single spaces."""
    return "" if value is None else _ONE_LINE.sub(" ", str(value)).strip()


def _text(value: object) -> str:
    return "" if value is None else str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def _cut(text: str, name: str) -> str:
    limit = TEXT_LIMITS[name]
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _severity(matrix: Matrix, name: str) -> dict:
    found = matrix.severity(name)
    return {"name": name, "description": found.description if found else ""}


def _level(matrix: Matrix, level_id: str) -> dict:
    found = matrix.level(level_id)
    return {"id": level_id, "name": found.name if found else "", "duties": list(found.duties) if found else []}


def _owner(matrix: Matrix, name: str) -> dict:
    party = matrix.parties.get(name)
    return {"name": name, "display_name": (party.display_name if party else "") or name,
            "email": party.email if party else ""}


def _timer(timer: Mapping, now: datetime) -> dict:
    due = timer.get("due")
    left = _remaining(due, now) if isinstance(due, datetime) else ""
    overdue = isinstance(due, datetime) and _aware(due) <= now
    state = timer.get("state") or ("overdue" if overdue else "running")
    return {"name": one_line(timer.get("name")), "due": format_time(due), "remaining": left, "state": state}


def _remaining(due: datetime, now: datetime) -> str:
    """Whole minutes left, rounded down: a deadline is never shown later than it is."""
    minutes = max(0, math.floor((_aware(due) - now).total_seconds() / 60))
    return format_duration(timedelta(minutes=minutes)) if minutes else "0m"


def _entry(entry: Mapping) -> dict:
    return {"at": format_time(entry.get("at")), "what": one_line(entry.get("what")), "why": one_line(entry.get("why"))}
