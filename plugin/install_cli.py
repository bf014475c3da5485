"""`escalator install jira|zendesk`: connect a platform to this Escalator through its REST API.

Idempotent: what exists is found again (the webhook by its URL, Zendesk's triggers by title) and only what
differs is written; `--dry-run` prints the writes instead. Credentials come from ESCALATOR_JIRA_* and
ESCALATOR_ZENDESK_* and are never printed.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from textwrap import indent
from urllib.parse import urlsplit

import click

from .platforms._install import CREATE, KEEP, UPDATE, Remote
from .platforms.jira import install as jira_install
from .platforms.jira.settings import PLACEHOLDER_URL as JIRA_PLACEHOLDER
from .platforms.jira.settings import site_url as jira_site
from .platforms.zendesk import install as zendesk_install
from .platforms.zendesk.settings import PLACEHOLDER_URL as ZENDESK_PLACEHOLDER
from .platforms.zendesk.settings import site_url as zendesk_site
from .writeback.http import Http, WriteBackError, new_session

PERMISSION_STATUSES = (401, 403)
_DONE = {CREATE: "created", UPDATE: "updated", KEEP: "unchanged"}
_ZENDESK_REFUSALS = {
    401: "Zendesk refused the credentials: check ESCALATOR_ZENDESK_EMAIL and ESCALATOR_ZENDESK_API_TOKEN.",
    403: "Zendesk refused: the API token's user must be an admin (or an agent whose role may manage "
         "webhooks and triggers).",
}

url_option = click.option(
    "--url", "--base-url", "public_url", required=True, metavar="PUBLIC_BASE_URL",
    help="Escalator's public base URL as the platform reaches it, e.g. https://escalator.example.com.")
dry_run_option = click.option(
    "--dry-run", is_flag=True,
    help="Print the requests that would change something and send none (what exists is still read).")


@click.group()
def install():
    """Connect Jira or Zendesk: register the webhook (and Zendesk's triggers) through their REST APIs."""


@install.command("jira")
@url_option
@click.option("--jql", default="", help="Only issues matching this JQL, e.g. 'project = SUP'; default all issues.")
@click.option("--resend-secret", is_flag=True,
              help="Send ESCALATOR_JIRA_WEBHOOK_SECRET again even if nothing else changed (Jira never shows it).")
@dry_run_option
def jira(public_url, jql, resend_secret, dry_run):
    """Register Jira's admin webhook, signed with ESCALATOR_JIRA_WEBHOOK_SECRET (needs Jira admin rights)."""
    settings = _settings()
    _check_public_url(public_url)
    if not settings.jira_webhook_secret:
        _fail("set ESCALATOR_JIRA_WEBHOOK_SECRET first (for example to the output of `openssl rand -hex 32`): "
              "the webhook signs every delivery with it, and Escalator checks the signature")
    credentials = (jira_site(settings), settings.jira_email, settings.jira_api_token)
    remote = _remote(jira_site(settings) or JIRA_PLACEHOLDER, credentials, dry_run,
                     "ESCALATOR_JIRA_BASE_URL, ESCALATOR_JIRA_EMAIL and ESCALATOR_JIRA_API_TOKEN",
                     secret_fields=jira_install.SECRET_FIELDS)
    target = jira_install.endpoint(public_url)
    try:
        jira_install.install(remote, target, jql, settings.jira_webhook_secret, resend_secret=resend_secret)
    except WriteBackError as exc:
        _report(remote, "Jira")
        if exc.status in PERMISSION_STATUSES:
            _manual_jira_steps(exc, remote.base_url, target, jql)
        _fail(str(exc), code=1)
    _report(remote, "Jira")


@install.command("zendesk")
@url_option
@click.option("--body", "body_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your own trigger body (JSON, with your field keys); default the documented one.")
@dry_run_option
def zendesk(public_url, body_file, dry_run):
    """Create the signed webhook and the triggers that post Escalator's trigger body (needs a Zendesk admin)."""
    settings = _settings()
    _check_public_url(public_url)
    template = _body(body_file) if body_file else None
    credentials = (zendesk_site(settings), settings.zendesk_email, settings.zendesk_api_token)
    remote = _remote(zendesk_site(settings) or ZENDESK_PLACEHOLDER, credentials, dry_run,
                     "ESCALATOR_ZENDESK_SUBDOMAIN (or _BASE_URL), ESCALATOR_ZENDESK_EMAIL and "
                     "ESCALATOR_ZENDESK_API_TOKEN", token_user=True)
    try:
        webhook_id = zendesk_install.install(remote, zendesk_install.endpoint(public_url), template)
        secret = zendesk_install.signing_secret(remote, webhook_id) if webhook_id else None
    except WriteBackError as exc:
        _report(remote, "Zendesk")
        if exc.status in PERMISSION_STATUSES:
            click.echo(_ZENDESK_REFUSALS[exc.status], err=True)
        _fail(str(exc), code=1)
    _report(remote, "Zendesk")
    _print_secret(secret, settings.zendesk_webhook_secret)


def _remote(site: str, credentials: tuple[str, str, str], dry_run: bool, variables: str, *,
            token_user: bool = False, secret_fields: tuple[str, ...] = ()) -> Remote:
    if all(credentials):
        _, email, token = credentials
        # Zendesk API tokens authenticate as "{email}/token" with the token as the password.
        session = new_session(f"{email}/token" if token_user else email, token)
        return Remote(site, Http(session), dry_run, secret_fields)
    if not dry_run:
        _fail(f"set {variables} to install through the API (or try --dry-run to see the requests)")
    remote = Remote(site, None, dry_run, secret_fields)
    remote.notes.append(f"{variables} are not all set: nothing was read, so this assumes nothing exists yet")
    return remote


def _report(remote: Remote, platform: str) -> None:
    for step in remote.steps:
        verb = f"would {step.action}" if remote.dry_run and step.action != KEEP else _DONE[step.action]
        click.echo(f"{verb}: {step.what}" + (f" ({step.why})" if step.why else ""))
        if remote.dry_run and step.request is not None:
            click.echo(indent(remote.shown(step.request), "    "))
    for note in remote.notes:
        click.echo(f"note: {note}")
    changes = sum(step.action != KEEP for step in remote.steps)
    if not changes and remote.steps:
        click.echo(f"{platform}: already installed, nothing changed")
    elif remote.dry_run:
        click.echo(f"{platform}: {changes} change(s) would be made; run without --dry-run to make them")


def _print_secret(secret: str | None, configured: str) -> None:
    if secret is None:
        return
    if secret == configured:
        click.echo("ESCALATOR_ZENDESK_WEBHOOK_SECRET already holds the webhook's signing secret")
        return
    click.echo("Set the webhook's signing secret on every Escalator instance, then restart them:")
    click.echo(f"export ESCALATOR_ZENDESK_WEBHOOK_SECRET={shlex.quote(secret)}")


def _manual_jira_steps(exc: WriteBackError, site: str, target: str, jql: str) -> None:
    reason = ("Jira refused the credentials (ESCALATOR_JIRA_EMAIL, ESCALATOR_JIRA_API_TOKEN)"
              if exc.status == 401 else "the API token's user may not register webhooks (Administer Jira)")
    click.echo(f"Jira answered HTTP {exc.status}: {reason}. A Jira administrator can register it by hand:",
               err=True)
    for line in jira_install.manual_steps(site, target, jql):
        click.echo(f"  {line}", err=True)


def _body(path: Path) -> dict:
    try:
        template = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        _fail(f"{path} is not a JSON file: {exc}")
    problem = zendesk_install.body_problem(template)
    if problem:
        _fail(f"{path}: {problem}")
    return template


def _check_public_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        _fail(f"--url must be Escalator's public base URL, like https://escalator.example.com; got {url[:80]!r}")
    if parts.username or parts.password:
        _fail("--url must not carry a user name or password")
    if parts.scheme == "http":
        click.echo("note: the URL is not HTTPS; Jira Cloud and Zendesk expect an HTTPS endpoint they can reach",
                   err=True)


def _settings():
    from .cli import _settings as settings_or_exit
    return settings_or_exit()


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)
