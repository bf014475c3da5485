"""The channel settings are a section of plugin.settings.Settings (`settings.comms`), read from
ESCALATOR_SLACK_WEBHOOKS, _TEAMS_WEBHOOKS, _SMTP_URL, _SMTP_FROM, _STATUSPAGE_*, _WEBHOOK_URL and
_WEBHOOK_SECRET with the rest; a bad one is a SettingsError like any other setting."""
from __future__ import annotations

from plugin.settings import CommsSettings, SettingsError

CommsConfigError = SettingsError    # the channels' own checks (an SMTP URL) raise it too

__all__ = ["CommsConfigError", "CommsSettings"]
