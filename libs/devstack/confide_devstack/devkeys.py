"""A development Ed25519 signing key and the JWKS that verifies it.

Services verify access tokens locally against a JWKS (``JWKS_FILE``); in production identity
publishes its keys. Locally and in tests there is no key service, so the stack generates one key
pair once per run folder (``.run/local/dev-keys/`` for `make run`, the session's run folder for
tests) and hands the JWKS to every service. Tests sign tokens with the private key.

The key is for development only: it lives in a git-ignored folder, is created with mode 0600, and
is never used outside the dev stack.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide_devstack._util import file_lock, write_atomic

PRIVATE_KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"


class DevKeys(NamedTuple):
    """Paths of the dev signing key (PKCS#8 PEM) and its public JWKS."""

    private_key_path: Path
    jwks_path: Path

    @property
    def kid(self) -> str:
        """Key id to put in the JWT header (RFC 7638 thumbprint of the public key)."""
        document = json.loads(self.jwks_path.read_text(encoding="utf-8"))
        return str(document["keys"][0]["kid"])

    def private_key_pem(self) -> bytes:
        """The PEM bytes, as PyJWT's ``jwt.encode(..., key=..., algorithm="EdDSA")`` accepts them."""
        return self.private_key_path.read_bytes()


def ensure_dev_keys(directory: Path) -> DevKeys:
    """Create the key pair in `directory` unless present; return ``(private_key_path, jwks_path)``.

    Idempotent and safe to call from concurrent processes (a file lock guards generation, files
    are replaced atomically). A missing or stale ``jwks.json`` is rebuilt from the private key.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_path = directory / PRIVATE_KEY_FILE
    jwks_path = directory / JWKS_FILE
    with file_lock(directory / ".lock"):
        if private_path.is_file():
            loaded = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"{private_path} is not an Ed25519 private key")
            key = loaded
        else:
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                encoding=serialization.Encoding.PEM,
                format=serialization.PrivateFormat.PKCS8,
                encryption_algorithm=serialization.NoEncryption(),
            )
            write_atomic(private_path, pem, mode=0o600)
        document = jwks_for(key)
        data = (json.dumps(document, indent=2) + "\n").encode()
        if not jwks_path.is_file() or jwks_path.read_bytes() != data:
            write_atomic(jwks_path, data)
    return DevKeys(private_path, jwks_path)


def jwks_for(key: Ed25519PrivateKey) -> dict[str, Any]:
    """The public JWKS (RFC 8037 OKP key) for `key`, with its thumbprint as ``kid``."""
    raw = key.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    x = _b64url(raw)
    # RFC 7638: thumbprint over the required members in lexicographic order, no whitespace.
    thumbprint = _b64url(
        hashlib.sha256(
            json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":")).encode()
        ).digest()
    )
    return {
        "keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": thumbprint, "alg": "EdDSA", "use": "sig"}]
    }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
