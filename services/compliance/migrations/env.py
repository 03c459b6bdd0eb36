"""Alembic environment of the compliance database (`python -m confide_compliance migrate`)."""

from confide_chassis.migrations import run_env
from confide_compliance.db.tables import metadata

run_env(metadata)
