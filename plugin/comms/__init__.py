"""Communications: render a matrix template, resolve who hears it, apply the sensitivity policy, send it.

`plan_notification` turns one decided Notification into messages (for `build_senders(...)[channel]`)
and ticket write-back actions. The channel settings are `settings.comms`, read with the rest by
`plugin.settings.Settings.from_env()`.
"""
from __future__ import annotations

from ._http import DeliveryError
from .channels import Delivery, Message, build_senders, messages_for, owner_messages, ticket_action
from .outbound import Outbound, plan_notification
from .policy import is_allowed, refusal
from .recipients import Recipient, Resolved, resolve
from .render import RenderError, message_context, render_message
from .settings import CommsConfigError, CommsSettings

__all__ = ["CommsConfigError", "CommsSettings", "Delivery", "DeliveryError", "Message", "Outbound", "Recipient",
           "RenderError", "Resolved", "build_senders", "is_allowed", "message_context", "messages_for",
           "owner_messages", "plan_notification", "refusal", "render_message", "resolve", "ticket_action"]
