"""Versioned reference data bundled with the service (each file carries an `as_of` date).

Loaded once at start-up and handed to the pure domain functions as parameters.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from confide_identity.domain.age_of_consent import AgeOfConsentTable, parse_age_of_consent_table
from confide_identity.domain.passwords import parse_common_passwords

_PACKAGE = __name__


def _read_text(name: str) -> str:
    return resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")


@cache
def load_common_passwords() -> frozenset[str]:
    """The bundled list of common passwords (casefolded, NFKC)."""
    return parse_common_passwords(_read_text("common_passwords.txt").splitlines())


@cache
def load_age_of_consent_table() -> AgeOfConsentTable:
    """The bundled per-state age-of-consent table for outpatient mental-health care (RULES §2.5)."""
    data = yaml.safe_load(_read_text("age_of_consent.yaml"))
    if not isinstance(data, dict):
        raise ValueError("age_of_consent.yaml: expected a mapping at the top level")
    return parse_age_of_consent_table(data)
