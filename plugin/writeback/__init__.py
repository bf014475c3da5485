"""REST write-back clients for Jira and Zendesk, and credential-less planners for dry-run.

`build_clients(settings)` holds a client only for platforms whose credentials are set; for the
others, `planner_for(platform, settings).requests_for(action)` is what dry-run shows.
"""
from __future__ import annotations

from .base import SENT, SKIPPED, OutgoingRequest, RestClient, WriteBackClient, WriteResult
from .http import DEFAULT_TIMEOUT, Http, WriteBackError, new_session, parse_retry_after
from .jira import PLACEHOLDER_URL as JIRA_PLACEHOLDER
from .jira import JiraClient
from .zendesk import PLACEHOLDER_URL as ZENDESK_PLACEHOLDER
from .zendesk import ZendeskClient

__all__ = ["SENT", "SKIPPED", "OutgoingRequest", "WriteResult", "WriteBackClient", "WriteBackError",
           "JiraClient", "ZendeskClient", "build_clients", "planner_for", "parse_retry_after"]

def build_clients(settings, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> dict[str, RestClient]:
    """A sending client for each platform whose base URL, email and API token are all set."""
    clients: dict[str, RestClient] = {}
    if _jira_url(settings) and settings.jira_email and settings.jira_api_token:
        session = new_session(settings.jira_email, settings.jira_api_token)
        clients["jira"] = JiraClient(_jira_url(settings), Http(session, timeout),
                                     service_desk=settings.jira_service_desk)
    if _zendesk_url(settings) and settings.zendesk_email and settings.zendesk_api_token:
        # Zendesk API tokens authenticate as "{email}/token" with the token as the password.
        session = new_session(f"{settings.zendesk_email}/token", settings.zendesk_api_token)
        clients["zendesk"] = ZendeskClient(_zendesk_url(settings), Http(session, timeout))
    return clients


def planner_for(platform: str, settings) -> RestClient:
    """A client that builds the exact requests a configured one would send, and cannot send them."""
    if platform == "jira":
        return JiraClient(_jira_url(settings) or JIRA_PLACEHOLDER,
                          service_desk=settings.jira_service_desk)
    if platform == "zendesk":
        return ZendeskClient(_zendesk_url(settings) or ZENDESK_PLACEHOLDER)
    raise ValueError(f"unknown platform {platform!r}; expected jira or zendesk")


def _jira_url(settings) -> str:
    return settings.jira_base_url


def _zendesk_url(settings) -> str:
    if settings.zendesk_base_url:
        return settings.zendesk_base_url
    return f"https://{settings.zendesk_subdomain}.zendesk.com" if settings.zendesk_subdomain else ""

