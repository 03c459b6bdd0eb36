"""Alembic environment of the messaging database (`python -m confide_messaging migrate`)."""

from confide_chassis.migrations import run_env
from confide_messaging.db.tables import metadata

run_env(metadata)
