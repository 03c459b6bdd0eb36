"""Alembic environment of the directory database (`python -m confide_directory migrate`)."""

from confide_chassis.migrations import run_env
from confide_directory.db.tables import metadata

run_env(metadata)
