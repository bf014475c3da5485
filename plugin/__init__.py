"""Escalator: an executable customer escalation matrix for Jira and Zendesk."""
