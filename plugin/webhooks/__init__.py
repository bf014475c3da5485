"""Webhook intake helpers that do not depend on the web framework."""
