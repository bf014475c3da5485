"""Jira (Cloud, Data Center, Service Management) and Jira Automation, in one package.

webhooks and automation parse deliveries (fields reads the issue they carry), signatures
authenticates them, client writes back over REST, settings holds ESCALATOR_JIRA_*.
"""
from __future__ import annotations

from .._platform import Platform
from .client import JiraClient, client, planner
from .settings import JiraSettings, bot_account, ticket_url
from .signatures import sign_jira, verify, verify_jira
from .webhooks import parse

PLATFORM = Platform(
    name="jira", settings=JiraSettings, verify=verify, parse=parse,
    dedupe_header="X-Atlassian-Webhook-Identifier",
    client=client, planner=planner, bot_account=bot_account, ticket_url=ticket_url,
    kept_headers=("X-Atlassian-Webhook-Retry", "X-Atlassian-Webhook-Flow"),
)

__all__ = ["PLATFORM", "JiraClient", "JiraSettings", "parse", "sign_jira", "verify_jira"]
