"""Identity configuration from the environment (prefix ``IDENTITY_``), beside the chassis' shared settings.

- `IDENTITY_KEY_ENCRYPTION_KEY`: base64 of 32 random bytes, the AES-256-GCM key-encryption key (KEK)
  that seals TOTP secrets and private signing keys. Required unless dev mode.
- `IDENTITY_PREVIOUS_KEY_ENCRYPTION_KEYS`: comma-separated base64 KEKs that still decrypt (KEK rotation).
- `IDENTITY_DEV_MODE`: `true` derives a KEK when none is given (with a warning) and allows `seed-demo`.
- `IDENTITY_SIGNING_KEY_FILE` (or the dev stack's `CONFIDE_DEV_SIGNING_KEY_FILE`): an Ed25519 private key
  (PKCS#8 PEM) imported once as the active signing key.
- `IDENTITY_PUBLIC_BASE_URL`: where the frontend lives; e-mail links point there (http://127.0.0.1:8080).
- `IDENTITY_DEV_MAIL_DIR`: in dev mode the dev mailer writes one JSON file per e-mail there (.run/dev-mail).
  Outside dev mode no e-mail provider exists yet: delivery fails and is logged (kind and user id only).
- `IDENTITY_ARGON2_TIME_COST` / `_MEMORY_KIB` / `_PARALLELISM`: argon2id cost (3 / 65536 / 4, RFC 9106).
- `IDENTITY_KEY_ROTATE_DAYS` / `_KEY_OVERLAP_HOURS` / `_KEY_PUBLISH_LEAD_MINUTES`: signing-key rotation
  (30 / 24 / 60); `IDENTITY_KEY_AUTO_ROTATE` (on unless a signing-key file is given);
  `IDENTITY_KEY_REFRESH_SECONDS`: how often each replica re-reads the keys (30).
- `IDENTITY_MFA_CHALLENGE_TTL_SECONDS` (300), `IDENTITY_INVITATION_TTL_HOURS` (72),
  `IDENTITY_ACCEPT_UNVERIFIED_CONSENT_AGES` (false: [U] entries of the age table are not trusted).

Plus the chassis' `IDENTITY_GRPC_PORT` (50051), `IDENTITY_METRICS_PORT` (9101), `IDENTITY_DATABASE_URL`,
`KAFKA_BOOTSTRAP_SERVERS`, `JWT_ISSUER`, `JWT_AUDIENCE`, `LOG_LEVEL`, `LOG_FORMAT` ... Identity verifies
the access tokens it receives against its own keys (database), not `JWKS_FILE`/`JWKS_URL`.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from confide_chassis.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore", populate_by_name=True)

    service_name: str = "identity"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9101, ge=0, le=65535)

    key_encryption_key: SecretStr | None = None
    previous_key_encryption_keys: SecretStr | None = None
    dev_mode: bool = False
    signing_key_file: str | None = Field(
        default=None,
        # CONFIDE_DEV_SIGNING_KEY_FILE is the name the dev stack runner already passes.
        validation_alias=AliasChoices(
            "IDENTITY_SIGNING_KEY_FILE", "CONFIDE_DEV_SIGNING_KEY_FILE", "signing_key_file"
        ),
    )

    public_base_url: str = "http://127.0.0.1:8080"
    dev_mail_dir: str = ".run/dev-mail"

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    key_rotate_days: float = Field(default=30, gt=0)
    key_overlap_hours: float = Field(default=24, gt=0)
    key_publish_lead_minutes: float = Field(default=60, gt=0)
    key_auto_rotate: bool | None = None
    key_refresh_seconds: float = Field(default=30, gt=0)

    mfa_challenge_ttl_seconds: int = Field(default=300, ge=30, le=1800)
    invitation_ttl_hours: int = Field(default=72, ge=1, le=24 * 14)
    accept_unverified_consent_ages: bool = False

    @property
    def auto_rotate(self) -> bool:
        if self.key_auto_rotate is not None:
            return self.key_auto_rotate
        return self.signing_key_file is None
