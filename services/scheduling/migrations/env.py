"""Alembic environment of the scheduling database (`python -m confide_scheduling migrate`)."""

from confide_chassis.migrations import run_env
from confide_scheduling.db.tables import metadata

run_env(metadata)
