"""Use cases of the identity service: each runs in one unit of work (state, events and audit records
commit together) and talks to ports (repositories, mailer, key store), never to drivers."""
