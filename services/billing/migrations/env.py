"""Alembic environment of the billing database (`python -m confide_billing migrate`)."""

from confide_billing.db.tables import metadata
from confide_chassis.migrations import run_env

run_env(metadata)
