"""gRPC adapters: servicers, request validation and the access table."""
