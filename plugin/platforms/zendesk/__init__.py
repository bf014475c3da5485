"""Zendesk Support, in one package.

webhooks parses event-subscribed webhooks and Escalator's trigger body, signatures authenticates
them, client writes back over REST, settings holds ESCALATOR_ZENDESK_*.
"""
from __future__ import annotations

from .._platform import Platform
from .client import ZendeskClient, client, planner
from .settings import ZendeskSettings, bot_account, ticket_url
from .signatures import ZENDESK_TEST_SECRET, sign_zendesk, verify, verify_zendesk
from .webhooks import parse

PLATFORM = Platform(
    name="zendesk", settings=ZendeskSettings, verify=verify, parse=parse,
    dedupe_header="X-Zendesk-Webhook-Invocation-Id",
    client=client, planner=planner, bot_account=bot_account, ticket_url=ticket_url,
    kept_headers=("X-Zendesk-Webhook-Id", "X-Zendesk-Account-Id"),
)

__all__ = ["PLATFORM", "ZENDESK_TEST_SECRET", "ZendeskClient", "ZendeskSettings", "parse", "sign_zendesk",
           "verify_zendesk"]
