"""Pure domain layer of the identity service.

Nothing in this package performs I/O, reads the clock or draws randomness: `now` (tz-aware UTC) and
random bytes are parameters. The single, documented exception is `password_hashing.Argon2PasswordHasher`,
an adapter behind the `PasswordHasher` port whose salt comes from argon2-cffi.

Modules:
    roles, authorization        roles, principals, the permission table and `authorize`
    passwords, password_hashing password policy (NIST 800-63B style) and the argon2id hasher port
    one_time_tokens             e-mail verification / password reset tokens (hash-only storage)
    mfa                         TOTP enrolment and verification, recovery codes
    lockout                     sign-in throttling with exponential backoff
    mail_quota                  how many self-service e-mails an account receives (IDN-AUTH-03)
    sessions                    refresh-token families: rotation, reuse detection, idle/absolute timeout
    claims, tokens              access-token claims; Ed25519 JWT signing/verification, JWKS, key rotation
    age_of_consent, profile     client profile and minor detection by state
    consent                     telehealth informed consent documents and signatures
    care_team                   clinician <-> client links
    rules                       identity-specific design rule ids (IDN-*) next to docs/rules.md ids
"""
