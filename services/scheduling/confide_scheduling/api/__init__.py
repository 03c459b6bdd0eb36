"""The gRPC edge: one servicer module per service (map the request to a command, call one use case, map
the record back) and ``mapping.py``, the only place that touches the API messages."""
