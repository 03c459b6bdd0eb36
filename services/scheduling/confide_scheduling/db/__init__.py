"""PostgreSQL tables and repositories of the scheduling service."""
