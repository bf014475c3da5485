"""`escalator review`: after-action reviews from the terminal, for the team lead who runs them.

list, show and export (Markdown) read; status, edit and the `action` commands change a review
through the same `ReviewDesk` as the JSON API, so both apply the same rules.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from .domain.clock import SystemClock
from .domain.errors import EscalatorError
from .domain.review import DONE, ITEM_STATUSES, SECTION_KEYS, STATUSES, WONT_DO, InvalidReviewInput, overdue
from .review_export import markdown
from .reviews import ReviewDesk, action_json, summary_json
from .settings import Settings, SettingsError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int):
    err_console.print(f"[red]error:[/red] {escape(message)}")
    sys.exit(code)


def _desk() -> ReviewDesk:
    from .bootstrap import ticket_urls
    from .matrix import load_matrix
    from .store.sql import SqlStore

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        _fail(str(exc), 2)
    if not settings.database_url:       # the embedded SQLite file lives in the data directory
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return ReviewDesk(SqlStore(settings.database), SystemClock(), lambda: load_matrix(settings.rules).parties,
                      ticket_urls(settings))


def _handled(command):
    """Refusals end the command with their message: 2 for a bad value, 1 for anything else."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InvalidReviewInput as exc:
            _fail(str(exc), 2)
        except EscalatorError as exc:       # no such review, a skipped status, an invalid matrix, an old schema
            _fail(str(exc), 1)
        except SQLAlchemyError as exc:      # the driver's message may carry the URL: name the kind only
            _fail(f"cannot use the database ({type(exc).__name__}); check ESCALATOR_DATABASE_URL", 2)
    return run


@click.group("review")
def review():
    """After-action reviews of significant escalations, and their action items."""


@review.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only reviews in this status.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--simulated", is_flag=True, help="Include the reviews of simulated tickets (`simulate --into-db`).")
@_handled
def list_reviews(status, limit, as_json, simulated):
    """The reviews, newest first, with their open and overdue action items."""
    desk = _desk()
    found, now = desk.list(status, limit, simulated), desk.clock.now()
    if as_json:
        click.echo(json.dumps({"reviews": [summary_json(r, now) for r in found]}, indent=2, ensure_ascii=False))
        return
    table = Table("id", "ticket", "status", "created (UTC)", "open", "overdue", "why")
    for r in found:
        still_open = [a for a in r.actions if a.status == "open"]
        ticket = f"{r.platform}/{r.key}" + (" (simulated)" if r.simulated else "")
        table.add_row(str(r.id), ticket, r.status, f"{r.created_at:%Y-%m-%d %H:%M}",
                      str(len(still_open)), str(sum(overdue(a, now) for a in still_open)), escape(r.trigger))
    console.print(table if found else "no reviews" + (f" in status {status}" if status else ""))


@review.command("show")
@click.argument("review_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the review with its whole pre-fill as JSON.")
@_handled
def show(review_id, as_json):
    """A review: figures, sections, action items and the timeline from the escalation log."""
    desk = _desk()
    found = desk.get(review_id)
    if as_json:
        click.echo(json.dumps(desk.as_json(found), indent=2, ensure_ascii=False))
        return
    console.print(Markdown(markdown(found, desk.prefill(found), desk.clock.now())))


@review.command("export")
@click.argument("review_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@_handled
def export(review_id, out):
    """The review as Markdown, to share or attach to the ticket."""
    desk = _desk()
    found = desk.get(review_id)
    text = markdown(found, desk.prefill(found), desk.clock.now())
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"review {review_id} written to {out}")


@review.command("status")
@click.argument("review_id", type=int)
@click.argument("status", type=click.Choice(STATUSES))
@_handled
def set_status(review_id, status):
    """Move a review on: draft → in_review → final (final freezes its timeline)."""
    changed = _desk().edit(review_id, status=status)
    console.print(f"review {changed.id} is {changed.status}")


@review.command("edit")
@click.argument("review_id", type=int)
@click.argument("section", type=click.Choice(SECTION_KEYS))
@click.option("--text", default=None, help="The section's new text ('' reverts to the pre-fill).")
@click.option("--file", "source", type=click.File("r", encoding="utf-8"), default=None,
              help="Read the text from this file ('-' for standard input).")
@_handled
def edit(review_id, section, text, source):
    """Replace one section's text, from --text or --file."""
    if (text is None) == (source is None):
        raise InvalidReviewInput("give the new text with exactly one of --text or --file")
    _desk().edit(review_id, sections={section: text if source is None else source.read()})
    console.print(f"review {review_id}: {section} saved")


@review.group("action")
def action():
    """Action items: add, close, update."""


@action.command("add")
@click.argument("review_id", type=int)
@click.option("--title", required=True, help="What is to be done.")
@click.option("--owner", required=True, help="A team or person of the matrix.")
@click.option("--due", required=True, help="A date (the end of that day, UTC) or an ISO date-time.")
@click.option("--link", default="", help="A Jira issue key (OPS-123) or an https URL (Jira or Zendesk).")
@_handled
def add(review_id, title, owner, due, link):
    """Add an action item to a review."""
    item = _desk().add_action(review_id, {"title": title, "owner": owner, "due": due, "link": link})
    console.print(f"review {review_id}: action item {item.number} added for {item.owner}, "
                  f"due {item.due_at:%Y-%m-%d %H:%M} UTC")


@action.command("close")
@click.argument("review_id", type=int)
@click.argument("number", type=int)
@click.option("--wont-do", is_flag=True, help="Close it as won't do instead of done.")
@_handled
def close(review_id, number, wont_do):
    """Close an action item (done, or won't do); its reminders stop."""
    item = _desk().change_action(review_id, number, {"status": WONT_DO if wont_do else DONE})
    console.print(f"review {review_id}: action item {number} is {item.status}")


@action.command("update")
@click.argument("review_id", type=int)
@click.argument("number", type=int)
@click.option("--title", default=None)
@click.option("--owner", default=None)
@click.option("--due", default=None)
@click.option("--link", default=None, help="'' removes the link.")
@click.option("--status", type=click.Choice(ITEM_STATUSES), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the item as JSON.")
@_handled
def update(review_id, number, as_json, **values):
    """Change an action item's title, owner, due date, link or status."""
    changes = {name: value for name, value in values.items() if value is not None}
    if not changes:
        raise InvalidReviewInput("nothing to change: give --title, --owner, --due, --link or --status")
    desk = _desk()
    item = desk.change_action(review_id, number, changes)
    if as_json:
        click.echo(json.dumps(action_json(item, desk.clock.now()), indent=2))
        return
    console.print(f"review {review_id}: action item {number} updated ({item.status}, owner {item.owner}, "
                  f"due {item.due_at:%Y-%m-%d %H:%M} UTC)")
