"""Clients of third-party services behind the ports of `confide_identity.app` (e-mail delivery)."""
