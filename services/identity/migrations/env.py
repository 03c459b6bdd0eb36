"""Alembic environment of the identity service: the chassis runs it over asyncpg in one transaction."""

from confide_chassis.migrations import run_env
from confide_identity.db.tables import metadata

run_env(metadata)
