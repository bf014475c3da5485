"""Who may do what on the dashboard and the API: roles and the permissions each one holds.

Plain data, shared by the web pages and `/api` so a page and the route behind it never disagree.
"""
from __future__ import annotations

ROLES = ("admin", "lead", "trainer", "agent", "trainee", "viewer")     # most trusted first

VIEW = "view"                   # live escalations, tickets, the matrix, insights, simulations, reviews (read)
AUDIT = "audit"                 # the matrix audit and its what-if replays
EDIT_REVIEWS = "edit_reviews"   # after-action reviews and their action items
RUN_DRILLS = "run_drills"       # start and assign drills, read every trainee's results
PLAY_DRILLS = "play_drills"     # play one's own drills
SEND_DRAFTS = "send_drafts"     # tailor, send and discard drafted customer messages
ADMIN = "admin"                 # users

PERMISSIONS: dict[str, frozenset[str]] = {
    VIEW: frozenset({"admin", "lead", "trainer", "agent", "viewer"}),
    AUDIT: frozenset({"admin", "lead"}),
    EDIT_REVIEWS: frozenset({"admin", "lead"}),
    RUN_DRILLS: frozenset({"admin", "lead", "trainer"}),
    PLAY_DRILLS: frozenset({"admin", "lead", "trainer", "trainee"}),
    SEND_DRAFTS: frozenset({"admin", "lead", "agent"}),
    ADMIN: frozenset({"admin"}),
}
assert all(roles <= set(ROLES) for roles in PERMISSIONS.values())


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def roles_with(permission: str) -> list[str]:
    """The roles holding `permission`, in the order of ROLES (for messages)."""
    return [role for role in ROLES if role in PERMISSIONS[permission]]
