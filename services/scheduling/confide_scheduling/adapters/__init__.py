"""Adapters for the app layer's ports: compliance over gRPC, Jitsi Meet room tokens."""
