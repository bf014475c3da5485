"""`escalator trainee list|report`: who has drilled, and how a trainee is progressing."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import trainees as service

console = Console(highlight=False, soft_wrap=True)
ARROWS = {"up": "↑", "down": "↓", "flat": "→", "new": "·"}


def _repository():
    from .cli import _settings
    return service.open_repository(_settings())


@click.group()
def trainee():
    """Trainees' drill history: scores over time, per objective, and what to practise next."""


@trainee.command("list")
def list_trainees():
    """Every trainee with a finished drill."""
    found = _repository().trainees()
    if not found:
        console.print("no finished drills yet: play one with `escalator drill SCENARIO`")
        return
    table = Table("trainee", "drills")
    for name, count in found.items():
        table.add_row(escape(name), str(count))
    console.print(table)


@trainee.command()
@click.argument("name")
@click.option("--scenarios", "scenarios_dir", default="scenarios", show_default=True,
              type=click.Path(path_type=Path), help="Where to choose the next scenario from.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report(name, scenarios_dir, as_json):
    """NAME's drills over time, score per objective, and what to practise next."""
    body = service.report(_repository(), name, service.loadable(scenarios_dir))
    if as_json:
        click.echo(json.dumps(body, indent=2, sort_keys=True))
        return
    _print(body)


def _print(body: dict) -> None:
    name = escape(body["trainee"])
    if not body["drills"]:
        console.print(f"{name} has not finished a drill yet.")
    else:
        console.print(f"[bold]{name}[/bold]: {body['drills']} drill(s), average {body['average']}, "
                      f"latest {body['latest']}")
        drills = Table("finished", "scenario", "role", "score", title="Drills over time")
        for row in body["scores"]:
            drills.add_row(row["finished_at"][:16].replace("T", " "), escape(row["scenario"]), row["role"],
                           f"{row['score']:g}")
        console.print(drills)
        objectives = Table("objective", "earned", "possible", "mastery", "trend", title="Score per objective")
        for objective, tally in body["objectives"].items():
            objectives.add_row(objective, str(tally["earned"]), str(tally["possible"]), f"{tally['mastery']:.0%}",
                               ARROWS[tally["direction"]] + (f" {tally['trend']:+.0%}" if tally["trend"] else ""))
        console.print(objectives)
    chosen = body["next"]
    if chosen:
        console.print(f"Practise next: [bold]{escape(chosen['file'])}[/bold] ({escape(chosen['name'])}, "
                      f"{chosen['difficulty']}): {escape(chosen['why'])}")
