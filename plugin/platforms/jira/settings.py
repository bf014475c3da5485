"""Jira's ESCALATOR_JIRA_* settings: the site, write-back credentials, how deliveries authenticate.

A section of plugin.settings.Settings, which reads and checks them (see its docstring for `metadata`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

SECRET = {"secret": True}
PLACEHOLDER_URL = "https://<your-site>.atlassian.net"


@dataclass(frozen=True, repr=False)
class JiraSettings:
    jira_base_url: str = field(default="", metadata={
        "url": "password", "schemes": ("https", "http"), "expects": f"the site's URL, like {PLACEHOLDER_URL}"})
    jira_email: str = ""
    jira_api_token: str = field(default="", metadata=SECRET)
    jira_webhook_secret: str = field(default="", metadata=SECRET)       # the Jira webhook's Secret
    jira_automation_secret: str = field(default="", metadata=SECRET)    # X-Escalator-Token from Automation rules
    jira_bot_account_id: str = ""       # its events are echoes of Escalator's own writes
    jira_service_desk: bool = False     # notes through the Service Management API, as internal comments


def site_url(settings) -> str:
    return settings.jira_base_url


def ticket_url(settings) -> str:
    return site_url(settings).rstrip("/") + "/browse/{key}" if site_url(settings) else ""


def bot_account(settings) -> str:
    return settings.jira_bot_account_id
