"""confidectl: roll out a Confide overlay and report the platform's health (docs/deploy.md)."""
