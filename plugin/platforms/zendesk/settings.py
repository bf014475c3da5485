"""Zendesk's ESCALATOR_ZENDESK_* settings: the account, write-back credentials, how deliveries authenticate.

A section of plugin.settings.Settings, which reads and checks them (see its docstring for `metadata`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

SECRET = {"secret": True}
PLACEHOLDER_URL = "https://<subdomain>.zendesk.com"
_SUBDOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


def _subdomain(name: str, value: str) -> str:
    if not _SUBDOMAIN.fullmatch(value):
        raise ValueError(f"{name} must be the subdomain alone, e.g. acme for acme.zendesk.com; got {value[:60]!r}")
    return value


@dataclass(frozen=True, repr=False)
class ZendeskSettings:
    zendesk_subdomain: str = field(default="", metadata={"parse": _subdomain})
    zendesk_base_url: str = field(default="", metadata={      # a host mapped to Zendesk; wins over the subdomain
        "url": "password", "schemes": ("https", "http"), "expects": "the account's URL, like https://acme.zendesk.com"})
    zendesk_email: str = ""
    zendesk_api_token: str = field(default="", metadata=SECRET)
    zendesk_webhook_secret: str = field(default="", metadata=SECRET)   # the webhook's signing secret
    zendesk_bot_user_id: str = ""       # its events are echoes of Escalator's own writes
    zendesk_max_age: float = field(default=300.0, metadata={     # how far a signature's timestamp may be off
        "expects": "a number of seconds above 0, e.g. 300"})


def site_url(settings) -> str:
    if settings.zendesk_base_url:
        return settings.zendesk_base_url
    return f"https://{settings.zendesk_subdomain}.zendesk.com" if settings.zendesk_subdomain else ""


def ticket_url(settings) -> str:
    return site_url(settings).rstrip("/") + "/agent/tickets/{key}" if site_url(settings) else ""


def bot_account(settings) -> str:
    return settings.zendesk_bot_user_id
