"""Confide identity service: practices, users and roles, credentials, MFA, tokens, consent, care teams."""
