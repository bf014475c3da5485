"""`escalator drill`: play a scenario as a timed drill in the terminal, score a scripted run, print
the matrix's own answers, or turn a real ticket into a scenario."""
from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simulator.drills.actions import ROLES, SOLO, Action, Team
from simulator.drills.answers import answers_yaml, load_answers
from simulator.drills.commands import HELP, CommandError, Control, parse
from simulator.drills.scoring import DrillRun
from simulator.drills.session import Drill, DrillError, play
from simulator.drills.solution import PLAYER, solve
from simulator.drills.view import decided, ticket_view
from simulator.scenarios import ScenarioError, format_offset, load_scenario

from .domain.errors import EscalatorError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
SOURCE_STYLE = {"customer": "bold cyan", "executive": "bold magenta", "colleague": "green", "chat": "yellow",
                "escalator": "red"}


@click.command()
@click.argument("scenario_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--answers", "answers_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Play a scripted run from an answers file and print the score.")
@click.option("--json", "as_json", is_flag=True, help="With --answers: print the result as JSON.")
@click.option("--solution", is_flag=True, help="Print the matrix's own answers as an answers file (scores 100).")
@click.option("--trainee", "trainees", multiple=True, metavar="NAME[=ROLE]",
              help=f"Who plays; repeat with =ROLE ({', '.join(ROLES)}) for several trainees.")
@click.option("--speed", default=1.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Virtual minutes per real minute: 1 is real time, 60 plays an hour a minute.")
@click.option("--step", is_flag=True, help="Tabletop mode: time moves only on `next` or `wait`.")
@click.option("--debrief", "debrief_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the debrief to this file: .html (self-contained) or .md.")
@click.option("--save-answers", type=click.Path(dir_okay=False, path_type=Path),
              help="Write what the trainees did as an answers file, to replay the same score later.")
@click.option("--record/--no-record", default=None,
              help="Keep the run in the trainee history (default: on for live drills, off for --answers).")
@click.option("--from-ticket", metavar="PLATFORM/KEY", help="Write a scenario from a real ticket's log.")
@click.option("--next", "next_for", metavar="TRAINEE", help="Play the scenario that trains what TRAINEE missed most.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="With --solution or --from-ticket.")
@click.option("--seed", default=1, show_default=True, type=int, help="With --from-ticket: the renaming seed.")
@click.option("--rules", "rules_dir", default="rules", show_default=True, type=click.Path(path_type=Path))
@click.option("--engine", type=click.Choice(["python", "durable"]), default="python", show_default=True)
def drill(scenario_file, answers_file, as_json, solution, trainees, speed, step, debrief_file, save_answers, record,
          from_ticket, next_for, out, seed, rules_dir, engine):
    """Play SCENARIO as an escalation drill scored against the matrix in --rules."""
    if from_ticket:
        return _from_ticket(from_ticket, out, seed, rules_dir)
    if next_for:
        scenario_file = _next_scenario(next_for)
        trainees = trainees or (next_for,)
    if scenario_file is None:
        _fail("name a scenario file, e.g. `escalator drill scenarios/01-checkout-outage-unacknowledged.yaml`", 2)
    scenario = _load(scenario_file)
    try:
        if solution:
            return _solution(scenario, rules_dir, engine, out)
        run = _scripted(scenario, answers_file, rules_dir, engine) if answers_file else \
            _live(scenario, _team(trainees), rules_dir, engine, speed, step, save_answers)
    except EscalatorError as exc:
        _fail(f"the matrix in {rules_dir} cannot be used: {escape(str(exc))}; run `escalator check {rules_dir}`", 1)
    except (DrillError, ScenarioError) as exc:
        _fail(escape(str(exc)), 2)
    _report(run, as_json)
    _write_debrief(run, debrief_file)
    if record if record is not None else not answers_file:
        _record(run)


# -- the forms of a run ---------------------------------------------------------------------

def _load(path: Path):
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        _fail("the scenario cannot be played:\n" + escape(str(exc)), 2)
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}", 2)


def _solution(scenario, rules_dir: Path, engine: str, out: Path | None) -> None:
    actions = solve(scenario, rules_dir, engine=engine)
    text = answers_yaml(scenario, actions, Team({PLAYER: SOLO}),
                        f"The matrix's own answers for {scenario.name}: `escalator drill {scenario.path} "
                        f"--answers FILE` scores them 100.\nGenerated from {rules_dir}/ "
                        "; rerun after changing the matrix.")
    _emit(text, out)


def _scripted(scenario, answers_file: Path, rules_dir: Path, engine: str) -> DrillRun:
    team, actions = load_answers(answers_file)
    return play(scenario, actions, rules_dir, engine=engine, team=team)


def _team(trainees: tuple[str, ...]) -> Team:
    roles = {}
    for entry in trainees or ("Trainee",):
        name, _, role = entry.partition("=")
        if role and role not in ROLES:
            _fail(f"role {role!r} is not one of: {', '.join(ROLES)}", 2)
        roles[name.strip()] = role or SOLO
    return Team(roles)


# -- the live drill -------------------------------------------------------------------------

class _Terminal:
    """One drill at one keyboard: the clock, what arrived, and a prompt for actions."""

    def __init__(self, drill: Drill, speed: float, step: bool):
        self.drill, self.speed, self.step = drill, speed, step
        self.started = time.monotonic()
        self.skipped = timedelta(0)          # time jumped over with `wait` or `next` in timed modes
        self.ticket, self.by = drill.scenario.main, drill.team.default
        self.shown = 0                       # how many injects have been printed

    def virtual_now(self) -> timedelta:
        if self.step:
            return self.drill.now
        return timedelta(seconds=(time.monotonic() - self.started) * self.speed) + self.skipped

    def catch_up(self) -> None:
        self.drill.advance(self.virtual_now())
        for seen in self.drill.seen[self.shown:]:
            style = SOURCE_STYLE.get(seen.source, "")
            console.print(f"[{style}]{format_offset(seen.at):>8} {seen.ticket} {seen.source}:[/{style}] "
                          f"{escape(seen.text.strip())}")
        self.shown = len(self.drill.seen)

    def play(self) -> None:
        self.catch_up()
        while not (self.drill.over and (self.step or self.drill.now >= self.drill.scenario.until)):
            try:
                line = click.prompt(self._prompt(), default="", show_default=False, prompt_suffix=" ")
            except (EOFError, click.Abort):
                break
            self.catch_up()
            if self._handle(line) == "end":
                break
            self.catch_up()

    def _prompt(self) -> str:
        clock = self.drill.clock.strftime("%a %H:%M UTC")
        who = f"{self.by} " if not self.drill.team.solo else ""
        return f"[{format_offset(self.drill.now)} · {clock}] {who}{self.ticket} >"

    def _handle(self, line: str) -> str:
        try:
            command = parse(line, self.ticket, self.by)
        except CommandError as exc:
            console.print(f"[yellow]{escape(str(exc))}[/yellow]")
            return ""
        if isinstance(command, Control):
            return self._control(command)
        if isinstance(command, Action):
            try:
                action = self.drill.act(command)
            except DrillError as exc:
                console.print(f"[yellow]{escape(str(exc))}[/yellow]")
                return ""
            console.print(f"[dim]recorded at {format_offset(action.at)}: {action.do} "
                          f"{escape(action.to or action.name or action.template)}[/dim]")
        return ""

    def _control(self, command: Control) -> str:
        handlers = {"help": lambda: console.print(escape(HELP)), "show": lambda: self._show(command.argument),
                    "drafts": self._drafts,
                    "log": self._log, "on": lambda: self._switch_ticket(command.argument),
                    "as": lambda: self._switch_trainee(command.argument), "next": self._next,
                    "wait": lambda: self._wait(command.duration)}
        if command.name == "end":
            return "end"
        try:
            handlers[command.name]()
        except CommandError as exc:
            console.print(f"[yellow]{escape(str(exc))}[/yellow]")
        return ""

    def _wait(self, duration: timedelta) -> None:
        if self.step:
            self.drill.advance(self.drill.now + duration)
        else:     # the clock keeps running; `wait` moves it on by as much
            self.skipped += duration
        self.catch_up()

    def _next(self) -> None:
        upcoming = self.drill.next_inject()
        target = upcoming if upcoming is not None else self.drill.scenario.until
        self._wait(max(target - self.drill.now, timedelta(0)))

    def _show(self, key: str) -> None:
        key = key or self.ticket
        if key not in self.drill.known_tickets():
            raise CommandError(f"there is no ticket {key} yet; known: {', '.join(self.drill.known_tickets())}")
        view = ticket_view(self.drill, key)
        customer = view["customer"]
        console.print(f"[bold]{key}[/bold] {escape(view['summary'])}\n  {view['status']} · assignee "
                      f"{escape(view['assignee'] or '(none)')} · area {view['product_area']} · labels "
                      f"{', '.join(view['labels']) or '(none)'}\n  customer {escape(customer['name'])} "
                      f"({customer['tier']}, {customer['region']}) · contact {escape(customer['contact'])}"
                      + (f" · asked for {view['requested_priority']}" if view["requested_priority"] else ""))
        console.print(f"  your decisions: {decided(self.drill, key) or '(none yet)'}")

    def _drafts(self) -> None:
        """The ticket's drafts: the waiting ones in full, with where they go and when they go by themselves."""
        drafts = ticket_view(self.drill, self.ticket)["drafts"]
        for d in drafts:
            head = f"[bold]#{d['id']}[/bold] {d['template']} on {d['channel']} to {escape(', '.join(d['to']))}"
            if d["status"] != "pending":
                console.print(f"{head}: {d['status'].replace('_', ' ')} at {d['acted_at']}"
                              + (f" ({escape(d['reason'])})" if d["reason"] else ""))
                continue
            when = f"goes out by itself as drafted at {d['sends_at']}" if d["sends_at"] else "waits for you"
            console.print(f"{head}: {when}\n{escape(d['template_text'])}")
        if not drafts:
            console.print(f"no drafted message on {self.ticket}")

    def _log(self) -> None:
        for action in self.drill.actions:
            console.print(f"{format_offset(action.at):>8} {action.by}: {action.do} {action.ticket} "
                          f"{escape(action.to or action.name or action.template or action.text)}"
                          + (f" — {escape(action.rationale)}" if action.rationale else ""))

    def _switch_ticket(self, key: str) -> None:
        if key not in self.drill.known_tickets():
            raise CommandError(f"there is no ticket {key} yet; known: {', '.join(self.drill.known_tickets())}")
        self.ticket = key

    def _switch_trainee(self, name: str) -> None:
        if name not in self.drill.team.roles:
            raise CommandError(f"{name!r} is not playing; trainees: {', '.join(self.drill.team.roles)}")
        self.by = name


def _live(scenario, team: Team, rules_dir: Path, engine: str, speed: float, step: bool,
          save_answers: Path | None) -> DrillRun:
    drill_ = Drill(scenario, rules_dir, engine=engine, team=team)
    mode = "tabletop: type `next` to move on" if step else f"×{speed:g}" if speed != 1 else "real time"
    console.print(f"[bold]{escape(scenario.name)}[/bold] — {escape(scenario.description.strip())}\n"
                  f"Ends at {format_offset(scenario.until)} ({mode}). Type `help` for the commands; `end` finishes, "
                  "and the rest of the story then plays out without you.")
    _Terminal(drill_, speed, step).play()
    run = drill_.end()
    if save_answers:
        save_answers.write_text(answers_yaml(scenario, run.actions, team, f"Played live: {scenario.name}"))
    return run


# -- results --------------------------------------------------------------------------------

def _report(run: DrillRun, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(run.to_json(), indent=2))
        return
    table = Table("at", "ticket", "expected", "", "why", title=f"{run.scenario.name}: score {run.score:g}/100")
    for e in run.expectations:
        mark = "[green]pass[/green]" if e.passed else f"[red]fail[/red] −{e.weight}"
        table.add_row(format_offset(e.at), e.ticket, escape(e.expected), mark, escape(e.reason))
    console.print(table)
    for role, figures in run.by_role().items():
        console.print(f"{role}: {escape(figures['trainee'])} scored {figures['score']:g}")


def _write_debrief(run: DrillRun, path: Path | None) -> None:
    if not path:
        return
    from simulator.drills import debrief
    render = debrief.html if path.suffix.lower() in (".html", ".htm") else debrief.markdown
    path.write_text(render(run.to_json()), encoding="utf-8")
    console.print(f"debrief written to {path}")


def _record(run: DrillRun) -> None:
    from .store.drills import record_drill
    try:
        record_drill(run.to_json(), run.team.roles or {run.team.default: SOLO}, datetime.now(UTC))
    except EscalatorError as exc:
        err_console.print(f"[yellow]warning:[/yellow] the run was not kept in the trainee history: {escape(str(exc))}")


def _next_scenario(trainee: str) -> Path:
    from .store.drills import next_scenario
    return next_scenario(trainee, Path("scenarios"))


def _from_ticket(reference: str, out: Path | None, seed: int, rules_dir: Path) -> None:
    platform, _, key = reference.partition("/")
    if not key:
        _fail(f"{reference!r} is not PLATFORM/KEY, e.g. jira/SUP-412 or zendesk/4711", 2)
    from simulator.from_ticket import FromTicketError, scenario_from_ticket, scenario_yaml

    store = _open_store()
    try:
        _emit(scenario_yaml(scenario_from_ticket(store, platform, key, seed=seed, rules=rules_dir)), out)
    except FromTicketError as exc:
        _fail(escape(str(exc)), 1)
    finally:
        store.dispose()


def _open_store():
    """The service's database, where real tickets' logs are, or exit 2 saying what is wrong."""
    from .settings import Settings, SettingsError
    from .store.sql import SqlStore
    try:
        settings = Settings.from_env()
        if not settings.database_url:
            Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        return SqlStore(settings.database)
    except (SettingsError, EscalatorError) as exc:
        _fail(escape(str(exc)), 2)
    except Exception as exc:    # any driver error: say which database and why, then stop
        _fail(f"cannot open the database ({type(exc).__name__}: {escape(str(exc))}); check ESCALATOR_DATABASE_URL", 2)


def _emit(text: str, out: Path | None) -> None:
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"written to {out}")
    else:
        click.echo(text, nl=False)


def _fail(message: str, code: int) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    sys.exit(code)
