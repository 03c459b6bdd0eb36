"""Mailer adapters: the dev file mailer and the in-memory fake (tests)."""
