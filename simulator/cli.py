"""`escalator simulate` and `escalator replay`."""
from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from plugin.domain.errors import EscalatorError

from .html import render_report
from .into_db import LOAD_MONTH, month_of, rating_deliveries, recent_start
from .replay import replay
from .report import per_ticket, summarize

console = Console(highlight=False, soft_wrap=True)
DEFAULT_START = "2026-01-05"        # a Monday; fixed so the same seed gives the same report
COMPARED = ("severity", "level", "owner", "first_page", "breaches")
# The service's CLI puts here how to keep a finished run's report (in its database); the simulator
# itself knows no database. Called as keep(kind, params, summary, details, loaded_into_db=n) -> the run's id.
KEEP_REPORT = "escalator.keep_simulation_report"
record_option = click.option("--record/--no-record", default=True, show_default=True,
                             help="Also keep the report in the database, for the dashboard's /simulations.")


def _start(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _generate(seed: int, incidents: int, days: int, start: str):
    from .generator import generate
    return generate(seed=seed, incidents=incidents, days=days, start=_start(start))


def _replay_with_progress(deliveries: list, rules: Path, engine: str, label: str, consume: bool = False):
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=len(deliveries))
        # Summaries and diffs read decisions, timers and who was told what, never a message's text.
        return replay(deliveries, rules, engine=engine, progress=lambda n: progress.advance(task, n), lean=True,
                      consume=consume)


@click.command()
@click.option("--incidents", default=500, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--start", default=DEFAULT_START, show_default=True, help="First day (UTC) of the simulated period.")
@click.option("--rules", "rules_dir", default="rules", show_default=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", default=None, type=click.Path(path_type=Path),
              help="Where to write summary.json, tickets.json and report.html (default: out/sim-SEED).")
@click.option("--engine", type=click.Choice(["durable", "python"]), default="durable", show_default=True)
@record_option
@click.option("--into-db", is_flag=True,
              help="Also load the tickets into the service's database for the dashboard, marked simulated, keys "
                   "SIM-SEED-...; a second run of the seed replaces them. Without --start the period ends today.")
def simulate(incidents, days, seed, start, rules_dir, out_dir, engine, record, into_db):
    """Generate incidents and replay them through the matrix on a virtual clock."""
    if into_db and click.get_current_context().get_parameter_source("start").name == "DEFAULT":
        start = recent_start(days)
    deliveries = _generate(seed, incidents, days, start)
    rated = rating_deliveries(deliveries) if into_db else []    # a lean replay keeps no rating
    result = _replay_with_progress(deliveries, rules_dir, engine, f"replaying {len(deliveries)} deliveries",
                                   consume=True)   # each body is let go once stored
    loaded = _load_into_db(month_of(result, seed, rated)) if into_db else 0
    summary = simulation_summary(result, seed, incidents, days, start)
    _print_summary(summary)
    out_dir = out_dir or Path("out") / f"sim-{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    tickets = per_ticket(result.store, result.ended)
    (out_dir / "tickets.json").write_text(json.dumps(tickets, indent=2, sort_keys=True) + "\n")
    (out_dir / "report.html").write_text(_simulation_html(summary))
    console.print(f"wrote {out_dir}/summary.json, tickets.json and report.html")
    if record:
        _keep("simulate", {"seed": seed, "incidents": incidents, "days": days, "start": start,
                           "rules": str(rules_dir), "engine": engine}, summary, {"tickets": tickets},
              loaded_into_db=loaded)


def _load_into_db(month) -> int:
    """Hand the month to the loader the service's CLI gave; how many tickets it loaded. A database that
    refuses it is one line, exit 1."""
    load = click.get_current_context().meta.get(LOAD_MONTH)
    if load is None:
        raise click.UsageError("--into-db needs the service's command: run it as `escalator simulate --into-db`")
    try:
        loaded = load(month)
    except EscalatorError as exc:
        console.print(f"[red]the month was not loaded:[/red] {escape(str(exc))}")
        sys.exit(1)
    replaced = f", replacing {loaded.replaced} from an earlier run of this seed" if loaded.replaced else ""
    console.print(f"loaded {loaded.tickets} simulated tickets ({month.prefix}…){replaced}; the database holds "
                  f"{loaded.simulated_total} simulated tickets, shown on the dashboard with “include simulated”"
                  + (f"; {loaded.reviews} after-action reviews came with them" if loaded.reviews else ""))
    return loaded.tickets


def simulation_summary(result, seed: int, incidents: int, days: int, start: str) -> dict:
    """What a simulation measured, with what reproduces it: summary.json and the stored report."""
    return {"seed": seed, "incidents": incidents, "days": days, "start": start,
            "matrix_version": result.matrix.matrix.version, "deliveries": result.deliveries,
            "duplicates": result.duplicates, "timer_firings": result.timer_firings,
            **summarize(result.store, result.ended)}


def _keep(kind: str, params: dict, summary: dict, details: dict, loaded_into_db: int = 0) -> None:
    """Keep the report where the service's CLI says; an unreachable database is one line, the files stay."""
    keep = click.get_current_context().meta.get(KEEP_REPORT)
    if keep is None:
        return
    try:
        run_id = keep(kind, params, summary, details, loaded_into_db=loaded_into_db)
    except EscalatorError as exc:
        console.print(f"[yellow]the report was not kept in the database:[/yellow] {escape(str(exc))}")
        return
    console.print(f"kept in the database as simulation run {run_id} (/simulations/{run_id})")


def _print_summary(summary: dict) -> None:
    console.print(f"[bold]{summary['tickets']} tickets[/bold] from {summary['deliveries']} deliveries "
                  f"({summary['duplicates']} duplicates), {summary['timer_firings']} timer firings; "
                  f"matrix {summary['matrix_version']}")
    console.print(f"MTTA {summary['mtta_minutes']} min · MTTR {summary['mttr_hours']} h")
    for title, key in (("volume by severity", "volume_by_severity"),
                       ("escalation rate by product area", "escalation_rate_by_area"),
                       ("dwell hours by level", "dwell_hours_by_level"), ("load by owner", "load_by_owner")):
        table = Table(title=title, show_header=False, title_justify="left")
        for label, value in summary[key].items():
            table.add_row(str(label), str(value))
        console.print(table)
    attainment = Table("timer", "met", "missed", "attainment", title="SLA attainment", title_justify="left")
    for name, row in summary["sla_attainment"].items():
        attainment.add_row(name, str(row["met"]), str(row["missed"]), f"{row['rate']:.1%}")
    console.print(attainment)


def _simulation_html(summary: dict) -> str:
    charts = [{"title": title, "values": summary[key]} for title, key in (
        ("Volume by severity", "volume_by_severity"), ("Escalation rate by product area", "escalation_rate_by_area"),
        ("Dwell hours by level", "dwell_hours_by_level"), ("Load by owner", "load_by_owner"))]
    charts.append({"title": "SLA attainment by timer",
                   "values": {name: row["rate"] for name, row in summary["sla_attainment"].items()}})
    subtitle = (f"{summary['incidents']} incidents over {summary['days']} days from {summary['start']}, seed "
                f"{summary['seed']}, matrix {summary['matrix_version']}: MTTA {summary['mtta_minutes']} min, "
                f"MTTR {summary['mttr_hours']} h")
    return render_report("Escalation simulation", subtitle, charts, [])


@click.command("replay")
@click.option("--baseline", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--candidate", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Deliveries to replay (JSONL from `escalator export`); otherwise generated ones.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--incidents", default=500, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366))
@click.option("--start", default=DEFAULT_START, show_default=True)
@click.option("--out", "out_dir", default=None, type=click.Path(path_type=Path),
              help="Where to write diff.json and diff.html (default: out/replay).")
@click.option("--engine", type=click.Choice(["durable", "python"]), default="durable", show_default=True)
@record_option
def replay_command(baseline, candidate, from_file, seed, incidents, days, start, out_dir, engine, record):
    """Replay the same incidents through two matrices and report what the change does (exit 1 if anything)."""
    from .generator import read_jsonl
    deliveries = read_jsonl(from_file) if from_file else _generate(seed, incidents, days, start)
    before = _replay_with_progress(deliveries, baseline, engine, "baseline")
    after = _replay_with_progress(deliveries, candidate, engine, "candidate")
    old_tickets, new_tickets = per_ticket(before.store, before.ended), per_ticket(after.store, after.ended)
    old, new = summarize(before.store, before.ended), summarize(after.store, after.ended)
    diff = compare(old_tickets, new_tickets)
    diff["aggregate"] = _aggregate(old, new, old_tickets, new_tickets)
    click.echo(markdown(diff))
    out_dir = out_dir or Path("out") / "replay"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "diff.json").write_text(json.dumps(diff, indent=2, sort_keys=True) + "\n")
    (out_dir / "diff.html").write_text(_diff_html(diff))
    if record:
        source = {"from": str(from_file)} if from_file else {"seed": seed, "incidents": incidents, "days": days,
                                                               "start": start}
        _keep("replay", {**source, "baseline": str(baseline), "candidate": str(candidate), "engine": engine,
                         "baseline_version": before.matrix.matrix.version,
                         "candidate_version": after.matrix.matrix.version},
              {"baseline": old, "candidate": new}, diff)
    sys.exit(1 if diff["changed"] else 0)


def compare(before: dict[str, dict], after: dict[str, dict]) -> dict:
    changed = {}
    for ticket in sorted(set(before) | set(after)):
        old, new = before.get(ticket, {}), after.get(ticket, {})
        fields = {f: [old.get(f), new.get(f)] for f in COMPARED if old.get(f) != new.get(f)}
        if fields:
            changed[ticket] = fields
    return {"tickets": len(set(before) | set(after)), "changed": changed}


def _aggregate(old: dict, new: dict, old_tickets: dict, new_tickets: dict) -> dict:
    def breaches(tickets):
        return sum(len(t["breaches"]) for t in tickets.values())

    def escalations(tickets):
        return sum(t["level"] not in ("", "L1") for t in tickets.values())
    return {"breaches": [breaches(old_tickets), breaches(new_tickets)],
            "escalations": [escalations(old_tickets), escalations(new_tickets)],
            "load_by_owner": {o: [old["load_by_owner"].get(o, 0), new["load_by_owner"].get(o, 0)]
                              for o in sorted(set(old["load_by_owner"]) | set(new["load_by_owner"]))}}


def markdown(diff: dict) -> str:
    """The difference as a pull-request comment."""
    agg = diff["aggregate"]
    lines = [f"### Matrix change: {len(diff['changed'])} of {diff['tickets']} tickets decided differently", "",
             "| | baseline | candidate |", "| --- | ---: | ---: |",
             f"| breaches | {agg['breaches'][0]} | {agg['breaches'][1]} |",
             f"| tickets escalated beyond L1 | {agg['escalations'][0]} | {agg['escalations'][1]} |"]
    lines += [f"| load: {owner} | {a} | {b} |" for owner, (a, b) in agg["load_by_owner"].items() if a != b]
    if diff["changed"]:
        lines += ["", "| ticket | what changed |", "| --- | --- |"]
        lines += [f"| {ticket} | " + "; ".join(f"{f}: {a} → {b}" for f, (a, b) in fields.items()) + " |"
                  for ticket, fields in diff["changed"].items()]
    return "\n".join(lines)


def _diff_html(diff: dict) -> str:
    rows = [{"cells": [t, "; ".join(f"{f}: {a} → {b}" for f, (a, b) in fields.items())], "changed": True}
            for t, fields in diff["changed"].items()]
    agg = diff["aggregate"]
    return render_report("Matrix change replay", f"{len(diff['changed'])} of {diff['tickets']} tickets changed",
                         [{"title": "Breaches (baseline, candidate)",
                           "values": {"baseline": agg["breaches"][0], "candidate": agg["breaches"][1]}}],
                         [{"title": "Tickets decided differently", "header": ["ticket", "what changed"],
                           "rows": rows}])
