"""Use cases of the scheduling service: they load state, call ports, apply the pure domain and commit
state and events in one unit of work."""
