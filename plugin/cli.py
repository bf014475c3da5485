"""The `escalator` command line."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .bootstrap import build_evaluator
from .cases import run_cases
from .domain.durations import format_duration
from .domain.errors import AnomalousPayload, EscalatorError, Problem, UnsupportedEvent
from .domain.fields import FIELDS, OPERATORS
from .engine import BACKENDS, Evaluator
from .engine.limits import engine_problems
from .matrix.lint import lint
from .matrix.loader import read_matrix
from .platforms import PARSERS, PLATFORMS, parse
from .review_cli import review
from .settings import Settings, SettingsError, mask_password
from .store import migrate

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

rules_argument = click.argument("rules_dir", required=False, type=click.Path(path_type=Path))
engine_option = click.option("--engine", type=click.Choice(BACKENDS), default=None,
                             help="Rule backend (default: ESCALATOR_ENGINE or durable).")


def _settings(engine: str | None = None) -> Settings:
    """The settings, or exit 2 with every bad ESCALATOR_* variable named (no traceback)."""
    try:
        return Settings.from_env(engine=engine)
    except SettingsError as exc:
        problem = str(exc)
    _fail(escape(problem), code=2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="escalator")
@click.pass_context
def main(ctx):
    """Escalator: an executable escalation matrix for Jira and Zendesk."""
    from simulator.cli import KEEP_REPORT
    from simulator.into_db import LOAD_MONTH

    from .simulation_reports import keep_report
    from .store.simulated_sql import load_into
    ctx.meta[KEEP_REPORT] = keep_report     # `simulate` and `replay` keep their reports in our database
    ctx.meta[LOAD_MONTH] = load_into        # `simulate --into-db` loads its month into it


@main.command()
@rules_argument
@engine_option
@click.option("--fields", "show_fields", is_flag=True, help="List the fields conditions can test, and exit.")
def check(rules_dir, engine, show_fields):
    """Validate the matrix in RULES_DIR: schema, references, templates, lint and engine limits."""
    if show_fields:
        _print_fields()
        return
    settings = _settings(engine)
    rules_dir = rules_dir or Path(settings.rules)
    matrix, source = read_matrix(rules_dir)
    problems = list(source.problems)
    if matrix is not None:
        problems += lint(matrix, source) + engine_problems(matrix, settings.engine)
    _print_problems(problems)
    errors = [p for p in problems if p.severity == "error"]
    if errors or matrix is None:
        err_console.print(f"[red]✗ {len(errors)} error(s)[/red]; the matrix was not loaded")
        sys.exit(1)
    warnings = len(problems) - len(errors)
    console.print(f"[green]✓[/green] {source.display(source.matrix_file)}: {len(matrix.triggers)} triggers, "
                  f"{len(matrix.exceptions)} exceptions, {len(matrix.stops)} timer stops, "
                  f"{len(matrix.severities)} severities, {len(matrix.levels)} levels; version {matrix.version}"
                  + (f"; {warnings} warning(s)" if warnings else ""))


@main.command("eval")
@click.argument("payload", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--platform", type=click.Choice(sorted(PARSERS)), required=True)
@click.option("--rules", "rules_dir", type=click.Path(path_type=Path), default=None,
              help="Rules directory (default: ESCALATOR_RULES or rules/).")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@engine_option
def evaluate(payload, platform, rules_dir, as_json, engine):
    """Parse one webhook PAYLOAD and show the decision the matrix makes, with its rule trace."""
    evaluator = _evaluator_or_exit(rules_dir, engine)
    try:
        event = parse(platform, json.loads(payload.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        _fail(f"{payload} is not JSON: {exc}", code=2)
    except UnsupportedEvent as exc:
        console.print(f"ignored: {exc}")
        return
    except AnomalousPayload as exc:
        _fail(f"{payload} is not a {platform} webhook payload: {exc}", code=2)
    if event is None:
        console.print("ignored: the delivery carries nothing to evaluate")
        return
    decision = evaluator.evaluate(event)
    if as_json:
        click.echo(json.dumps({"event": {"platform": event.platform, "kind": event.kind.value, "key": event.key},
                               "matrix_version": evaluator.matrix.version, "engine": evaluator.backend_name,
                               "decision": decision.as_dict()}, indent=2, ensure_ascii=False))
        return
    _print_decision(event, decision, evaluator)


@main.command("test")
@rules_argument
@engine_option
def run_tests(rules_dir, engine):
    """Run the matrix's own test cases (RULES_DIR/tests/*.yaml)."""
    settings = _settings(engine)
    rules_dir = rules_dir or Path(settings.rules)
    evaluator = _evaluator_or_exit(rules_dir, engine)
    tests_dir = rules_dir / "tests"
    results = run_cases(tests_dir, evaluator)
    if not results:
        _fail(f"no test cases found in {tests_dir}/*.yaml", code=1)
    for r in results:
        mark = "[green]PASS[/green]" if r.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {r.file}: {r.name}")
        if r.error:
            console.print(f"     [red]error:[/red] {r.error}")
        for what, wanted, got in r.failures:
            console.print(f"     {what}: expected [green]{wanted!r}[/green], got [red]{got!r}[/red]")
    failed = sum(not r.passed for r in results)
    console.print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker.")
@click.option("--no-worker", is_flag=True, help="Only take deliveries; run `escalator worker` to decide them.")
@click.option("--reload", "reload_rules", is_flag=True,
              help="Reload the matrix when files in rules/ change (SIGHUP always reloads).")
def serve(host, port, workers, threads, no_worker, reload_rules):
    """Receive Jira and Zendesk webhooks (gunicorn), with a worker process that decides them and writes back."""
    from . import logs
    from .metrics import share_across_processes
    from .server import Server, is_loopback

    settings = _settings()
    if not is_loopback(host) and not settings.api_token:
        _fail(f"refusing to listen on {host}: set ESCALATOR_API_TOKEN first, or the ticket API would be open "
              "to the network", code=2)
    _evaluator_or_exit(None, None)      # fail fast, with every problem listed, before forking workers
    _check_database(settings)
    dry = sorted(set(PLATFORMS) - _configured(settings))
    mode = f"dry-run for {', '.join(dry)}" if dry else "writing back to Jira and Zendesk"
    console.print(f"Escalator on http://{host}:{port} ({mode}); database {mask_password(settings.database)}")
    _first_admin_hint(settings, f"http://{host}:{port}")
    share_across_processes(Path(settings.data_dir) / "metrics")     # gunicorn workers and the worker alike
    logs.configure(settings)
    for warning in unsigned_warnings(settings):     # a log line, so JSON logs stay JSON
        logging.getLogger("plugin.cli").warning(warning)
    Server({"bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
            "accesslog": "-", "timeout": 30, "graceful_timeout": 10, "control_socket_disable": True,
            **logs.gunicorn_options(settings)},
           start_worker=not no_worker,
           reload=reload_rules).run()


@main.command()
@click.option("--interval", default=1.0, show_default=True, type=float, help="Seconds between outbox passes.")
@click.option("--reload", "reload_rules", is_flag=True,
              help="Reload the matrix when files in rules/ change (SIGHUP always reloads).")
def worker(interval, reload_rules):
    """Decide stored deliveries, fire SLA timers and send write-backs (serve runs one; run your own with
    `serve --no-worker`)."""
    import logging
    import signal
    import threading

    from . import background, bootstrap, logs

    settings = _settings()
    logs.configure(settings)
    container = bootstrap.build(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: container.matrix.reload())
    # On SQLite one processor per data directory: a second would only wait for the same write lock.
    processing = background.start(container, stop, outbox_interval=interval,
                                  elect=not container.settings.database_url.startswith("postgresql"))
    if reload_rules:
        bootstrap.watch_rules(container.matrix)
    dry = sorted(set(PLATFORMS) - set(container.clients))
    console.print(f"worker started: deliveries, SLA timers and write-backs (dry-run for: {', '.join(dry) or 'none'})")
    stop.wait()
    log = logging.getLogger("plugin.worker")
    log.info("stopping: the pass in flight commits first")
    processing.join(timeout=15)     # an unfinished pass is redone after a restart, once
    if processing.is_alive():
        log.warning("stopped with a pass unfinished after 15 s; it is redone after the restart")
    else:
        log.info("stopped")


@main.command()
@click.option("--since", required=True, help="First day (UTC), e.g. 2026-11-01.")
@click.option("--until", default=None, help="Day after the last one (UTC).")
def export(since, until):
    """Write the deliveries the service recorded as JSONL, for `escalator replay --from`."""
    import json
    from datetime import UTC, datetime

    from .store.sql import SqlStore

    def day(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    store = SqlStore(_settings().database)
    with store.reading() as tx:
        rows = tx.deliveries_between(day(since), day(until) if until else None)
    for row in rows:
        click.echo(json.dumps({"at": row["received_at"].isoformat(), "platform": row["platform"],
                               "headers": row["headers"], "body": json.loads(row["body"])}, sort_keys=True))


def unsigned_warnings(settings) -> list[str]:
    """One line per platform whose webhook takes unsigned deliveries, since no secret is set for it."""
    return [f"ESCALATOR_{name.upper()}_WEBHOOK_SECRET is unset: /webhooks/{name} accepts unsigned deliveries "
            f"(recorded as unsigned); set it to the secret of the {name.capitalize()} webhook"
            for name in PLATFORMS if not getattr(settings, f"{name}_webhook_secret", "").strip()]


def _first_admin_hint(settings, base_url: str) -> None:
    """On an install with no dashboard user yet, say how to create the first admin."""
    from web.auth import setup_link

    from .store.sql import SqlStore
    from .store.users import UserStore
    link = setup_link(UserStore(SqlStore(settings.database).engine), base_url)
    if link:
        console.print("No dashboard user yet. Create the first admin with "
                      "[bold]escalator user add NAME --role admin[/bold], or open this one-time link:\n"
                      f"  {link}")


def _configured(settings) -> set[str]:
    from .platforms import build_clients
    return set(build_clients(settings))


def _check_database(settings) -> None:
    from pathlib import Path

    from .store.sql import SqlStore
    if not settings.database_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    try:
        SqlStore(settings.database).dispose()
    except EscalatorError as exc:   # an out-of-date schema: its message says what to run
        _fail(str(exc), code=2)
    except Exception as exc:    # any driver error: say which database and why, then stop
        _fail(f"cannot open the database ({type(exc).__name__}: {exc}); check ESCALATOR_DATABASE_URL", code=2)


def _register_simulator() -> None:
    from simulator.cli import replay_command, simulate

    from .drill_cli import drill
    from .install_cli import install
    from .trainee_cli import trainee
    from .user_cli import user
    for command in (simulate, replay_command, drill, trainee, user, install):
        main.add_command(command)


_register_simulator()
main.add_command(review)


# -- the database schema ----------------------------------------------------------------------

@main.group()
def db():
    """The database schema: which revision it is at, and upgrading it to this release."""


@db.command("upgrade")
def db_upgrade():
    """Bring the database schema up to this release (creating it if empty); safe to run again."""
    url = _database_url()
    revision = _on_database(migrate.upgrade, url)
    console.print(f"{mask_password(url)} is at schema revision {revision}")


@db.command("current")
def db_current():
    """Print the database's schema revision ("none" for an empty database)."""
    url = _database_url()
    revision = _on_database(migrate.current_revision, url)
    console.print(revision or "none")
    if revision != migrate.HEAD:
        err_console.print(f"this release needs revision {migrate.HEAD}: run `escalator db upgrade`")


def _database_url() -> str:
    settings = _settings()
    if not settings.database_url:     # the embedded SQLite file lives in the data directory
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return settings.database


def _on_database(action, url: str):
    from sqlalchemy.exc import SQLAlchemyError
    try:
        return action(url)
    except EscalatorError as exc:       # a schema this release cannot use; the message names the database
        _fail(str(exc), code=1)
    except SQLAlchemyError as exc:      # no server, wrong credentials, a file that cannot be opened
        _fail(f"cannot open the database {mask_password(url)}: {exc}", code=2)


# -- output helpers ---------------------------------------------------------------------------

def _evaluator_or_exit(rules_dir, engine) -> Evaluator:
    settings = _settings(engine)
    try:
        return build_evaluator(settings, rules_dir)
    except EscalatorError as exc:    # an invalid matrix, or one the engine cannot compile
        _print_problems(getattr(exc, "problems", None) or [Problem(str(exc))])
        _fail(f"the matrix in {rules_dir or settings.rules} cannot be used; run `escalator check` for details",
              code=1)


def _fail(message: str, code: int) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    sys.exit(code)


def _print_problems(problems: list[Problem]) -> None:
    for p in sorted(problems, key=lambda p: (p.severity != "error", p.file, p.line or 0)):
        colour = "red" if p.severity == "error" else "yellow"
        err_console.print(f"[{colour}]{p.severity}[/{colour}] {p.location}: {p.message}", soft_wrap=True)
        if p.fix:
            err_console.print(f"    fix: {p.fix}", soft_wrap=True)


def _print_decision(event, decision, evaluator) -> None:
    console.print(f"[bold]{event.platform} {event.key}[/bold] · {event.kind.value} · "
                  f"matrix {evaluator.matrix.version} · engine {evaluator.backend_name}")
    table = Table(show_header=False, box=None)
    for name in ("severity", "level", "owner", "assignee", "priority"):
        why = decision.reasons.get(name, "")
        table.add_row(name, str(getattr(decision, name)) or "-", f"[dim]{why}[/dim]")
    table.add_row("labels", ", ".join(decision.labels) or "-", "")
    starts = ", ".join(f"{t.name} {format_duration(t.duration)}" for t in decision.start_timers)
    table.add_row("start timers", starts or "-", "")
    table.add_row("stop timers", ", ".join(decision.stop_timers) or "-", "")
    for n in decision.notifications:
        table.add_row("notify", f"{n.situation}: {', '.join(n.recipients)} via {n.channel} ({n.template})", "")
    console.print(table)
    console.print("[bold]trace[/bold]" if decision.trace else "[bold]trace[/bold]: no rule matched")
    for fired in decision.trace:
        values = ", ".join(f"{k}={v!r}" for k, v in fired.values)
        decided = f" → decided {', '.join(fired.decided)}" if fired.decided else ""
        console.print(f"  {fired.kind} [cyan]{fired.rule}[/cyan]{decided}\n    on {values}", soft_wrap=True)


def _print_fields() -> None:
    table = Table("field", "kind", "operators", "meaning")
    for f in FIELDS.values():
        table.add_row(f.name, f.kind, ", ".join(sorted(OPERATORS[f.kind])), f.doc)
    console.print(table)
