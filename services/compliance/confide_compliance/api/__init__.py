"""gRPC servicers: AuthorizationService, CredentialRegistryService and AuditTrailService."""
