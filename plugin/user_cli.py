"""`escalator user add|list|passwd|role|deactivate|activate`: who may log in to the dashboard."""
from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .access import ROLES
from .passwords import hash_password, name_problem, password_problem
from .store.users import UserError, UserStore

console = Console(highlight=False, soft_wrap=True)
password_stdin = click.option("--password-stdin", is_flag=True,
                              help="Read the password from the first line of standard input (for scripts).")


def _store() -> UserStore:
    from .cli import _check_database, _settings
    from .store.sql import SqlStore
    settings = _settings()
    _check_database(settings)
    return UserStore(SqlStore(settings.database).engine)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _now():
    from datetime import UTC, datetime
    return datetime.now(UTC)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem:
        _fail(problem)
    return password


@click.group()
def user():
    """Dashboard users and their roles: admin, lead, trainer, agent, trainee, viewer."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@password_stdin
def add(name, role, password_stdin):
    """Create a user who can log in at /login."""
    problem = name_problem(name)
    if problem:
        _fail(problem)
    store = _store()
    try:
        store.add(name, role, hash_password(_password(password_stdin)), _now())
    except UserError as exc:
        _fail(str(exc))
    console.print(f"added {escape(name)} ({role}); they log in at /login")


@user.command("list")
def list_users():
    """Every user, with role, state and last login."""
    table = Table("name", "role", "active", "last login")
    for found in _store().all():
        last = found.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if found.last_login_at else "never"
        table.add_row(escape(found.name), found.role, "yes" if found.active else "no", last)
    console.print(table if table.rows else "no users yet: `escalator user add NAME --role admin`")


@user.command("passwd")
@click.argument("name")
@password_stdin
def passwd(name, password_stdin):
    """Set a new password (ends the user's open sessions)."""
    _change(name, f"new password for {name}; their open sessions have ended",
            password_hash=hash_password(_password(password_stdin)))


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def role(name, role):
    """Give a user another role (it applies from their next request)."""
    _change(name, f"{name} is now {role}", role=role)


@user.command("deactivate")
@click.argument("name")
def deactivate(name):
    """Stop a user from logging in and end their sessions (their name stays in the records)."""
    _change(name, f"{name} can no longer log in", active=False)


@user.command("activate")
@click.argument("name")
def activate(name):
    """Let a deactivated user log in again."""
    _change(name, f"{name} can log in again", active=True)


def _change(name: str, done: str, **values) -> None:
    try:
        _store().change(name, **values)
    except UserError as exc:
        _fail(str(exc))
    console.print(escape(done))
