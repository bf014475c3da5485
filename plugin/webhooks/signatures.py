"""The signature helpers' old address, kept for scripts that import them from here; they live with
their platform (plugin.platforms.jira.signatures, plugin.platforms.zendesk.signatures)."""
from plugin.platforms._signing import SignatureError
from plugin.platforms.jira.signatures import sign_jira, verify_jira
from plugin.platforms.zendesk.signatures import ZENDESK_TEST_SECRET, sign_zendesk, verify_zendesk

__all__ = ["ZENDESK_TEST_SECRET", "SignatureError", "sign_jira", "sign_zendesk", "verify_jira", "verify_zendesk"]
