"""Rule ids cited by the identity domain.

Ids from `docs/rules.md` (SEC-*, SAFE-*) are cited where a rule there applies. Design rules of
this service that have no id in docs/rules.md get an ``IDN-`` id here so that errors, tests and code can still
cite one stable id (`FailedPrecondition` needs one).
"""

from __future__ import annotations

from typing import Final

# --- ids from docs/rules.md -----------------------------------------------------------------
SEC_01: Final = "SEC-01"
"""Addressable HIPAA specs are not optional: automatic logoff (45 CFR §164.312(a)(2)(iii)) is implemented
as a per-practice idle timeout and absolute session lifetime (refresh-token families)."""

SEC_03: Final = "SEC-03"
"""Security Rule NPRM (build to it now): MFA for staff roles."""

SAFE_10: Final = "SAFE-10"
"""Telehealth informed consent obtained and documented before care via telehealth (verbal or written)."""

SAFE_11: Final = "SAFE-11"
"""Indiana psychologists: written telehealth consent (no verbal-only consent there)."""

SAFE_12: Final = "SAFE-12"
"""Consent specific to telepsychology, per modality (video, texting, ...)."""

# --- identity design rules (no id in docs/rules.md) -------------------------------------------------------
IDN_MINOR_01: Final = "IDN-MINOR-01"
"""A client below the state's age of consent for outpatient mental-health care (docs/rules.md §2.5
table) needs a parent/guardian signature on the current telehealth consent."""

IDN_CARE_01: Final = "IDN-CARE-01"
"""A care-team link joins an active user holding the clinician role to an active user holding the client
role, both in the link's practice, with at most one active link per pair."""

IDN_KEY_01: Final = "IDN-KEY-01"
"""A signing key is published in the JWKS for at least `publish_lead` before it signs anything, and a
retired key stays published for at least the access-token lifetime (overlap)."""

IDN_AUTH_01: Final = "IDN-AUTH-01"
"""Sign-in needs a verified e-mail address (the verification link, or a password set through an invitation
or reset link, proves it). Reported only after a correct password, so it reveals nothing to others."""

IDN_AUTH_02: Final = "IDN-AUTH-02"
"""A password chosen at self sign-up takes effect only through the verification link of that sign-up: a
stranger signing up first with someone else's address cannot choose the password that person will have
once they verify (account pre-hijacking)."""

IDN_AUTH_03: Final = "IDN-AUTH-03"
"""Public requests that e-mail an account's owner (sign-up, resend verification, password reset) send at most
a few e-mails per account per hour; beyond that they answer as usual and send nothing."""

IDN_MFA_01: Final = "IDN-MFA-01"
"""A user has at most one TOTP factor. A confirmed factor is replaced only after a practice admin resets it
(ResetUserMfa); confirming needs a pending enrolment."""

IDN_USER_01: Final = "IDN-USER-01"
"""A practice keeps at least one active practice admin: the last one can neither lose the role nor be
deactivated, and an admin cannot deactivate themself. The platform operator role is granted only with the
admin CLI, never through the API."""

IDN_SESSION_01: Final = "IDN-SESSION-01"
"""Refresh tokens rotate on every use with no grace period; presenting a used token revokes its whole family
(cited in the audit record of the reuse)."""

IDN_KEY_02: Final = "IDN-KEY-02"
"""Private signing keys and TOTP secrets are stored sealed with AES-256-GCM under the key-encryption key
(`IDENTITY_KEY_ENCRYPTION_KEY`); passwords as argon2id hashes and tokens as SHA-256 hashes."""
