"""Use cases: the credential registry, authorization decisions, the expiry watch and the audit trail.

They run inside a unit of work (`ports.UnitOfWork`) and publish events through its outbox; they talk
to repositories through the protocols in `ports`, never to a database driver.
"""
