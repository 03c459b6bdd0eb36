"""Consumers: identity projections (profiles, consents, care teams) and compliance changes."""
