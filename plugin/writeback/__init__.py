"""What every platform's REST write-back client shares: request and result types, the send loop,
and one HTTP round trip with its failures classified for the outbox (comms' webhooks use it too).

The clients themselves live with their platform (plugin.platforms.<name>.client); the registry's
`build_clients(settings)` holds one for each platform whose credentials are set.
"""
from __future__ import annotations

from .base import SENT, SKIPPED, OutgoingRequest, RestClient, WriteBackClient, WriteResult
from .http import DEFAULT_TIMEOUT, Http, WriteBackError, new_session, parse_retry_after

__all__ = ["DEFAULT_TIMEOUT", "SENT", "SKIPPED", "Http", "OutgoingRequest", "RestClient", "WriteBackClient",
           "WriteBackError", "WriteResult", "new_session", "parse_retry_after"]
