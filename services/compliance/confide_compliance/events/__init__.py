"""Kafka consumers: the audit trail (`confide.audit.events.v1` into the hash-chained store)."""
