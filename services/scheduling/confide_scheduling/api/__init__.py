"""gRPC servicers: request validation and conversion; the use cases do the work."""
