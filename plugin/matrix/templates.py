"""Message templates: Jinja2 in a sandbox, strict about undefined names.

Ticket text is written by customers, so templates render it as data: the sandbox blocks
attribute tricks in the template itself, and values are never re-parsed as template code.
"""
from __future__ import annotations

from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment


def environment(templates_dir: Path) -> SandboxedEnvironment:
    return SandboxedEnvironment(loader=FileSystemLoader(str(templates_dir)), undefined=StrictUndefined,
                                autoescape=False, keep_trailing_newline=True)


def syntax_error(templates_dir: Path, name: str) -> tuple[str, int | None] | None:
    """(message, line) when the template does not compile, else None."""
    env = environment(templates_dir)
    try:
        env.parse(env.loader.get_source(env, name)[0])
    except TemplateSyntaxError as exc:
        return exc.message or str(exc), exc.lineno
    return None


def sample_context(matrix, level_id: str) -> dict:
    """A realistic context with every name a template may use, for `escalator check`."""
    level = matrix.level(level_id)
    severity = matrix.severities[0]
    owner_name = level.owner.default if level and level.owner else ""
    owner = matrix.parties.get(owner_name)
    return {
        "ticket": {
            "key": "SUP-1234", "platform": "jira", "summary": "Checkout API returns 502 for all EU customers",
            "description": "Since 09:12 UTC every payment attempt fails.", "status": "In Progress",
            "priority": severity.platform_priority.get("jira", ""), "url": "https://example.atlassian.net/browse/SUP-1234",
            "reporter": "Dana Customer", "assignee": owner.display_name if owner else owner_name,
            "labels": ["outage", "payments"], "workaround": "Retry with the backup card processor.",
            "customer": {"name": "Acme Corp", "tier": "enterprise", "region": "EU", "account_manager": "Sam Lee"},
            "product_area": "payments",
        },
        "severity": {"name": severity.name, "description": severity.description},
        "level": {"id": level_id, "name": level.name if level else "", "duties": list(level.duties) if level else []},
        "owner": {"name": owner_name, "display_name": owner.display_name if owner else owner_name,
                  "email": owner.email if owner else ""},
        "timers": [{"name": "ack", "due": "2026-11-29 10:15 UTC", "remaining": "12m", "state": "running"}],
        "next_update_due": "2026-11-29 10:45 UTC",
        "timeline": [{"at": "2026-11-29 10:00 UTC", "what": "escalated to L1", "why": "enterprise outage is critical"}],
        "reason": "enterprise outage is critical",
    }


def render_sample(templates_dir: Path, name: str, context: dict) -> str:
    return environment(templates_dir).get_template(name).render(context)
