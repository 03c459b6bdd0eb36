"""Client profile: the minimum other services need, validated at the edge of the domain.

PHI (names, date of birth, emergency contact phone) stays in the identity database. Events and other
services get `ClientProfileFacts` only: ids and coded fields (home state, time zone, payer type, minor
flags) - never names, date of birth or phone numbers.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from dataclasses import dataclass, fields
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Final
from uuid import UUID

from confide_chassis.errors import ValidationCollector
from confide_identity.domain.age_of_consent import AgeOfConsentTable
from confide_identity.domain.jurisdictions import normalize_jurisdiction

MAX_NAME_LENGTH: Final = 200
MAX_PREFERRED_NAME_LENGTH: Final = 100
MAX_AGE_YEARS: Final = 130
_E164: Final = re.compile(r"^\+[1-9]\d{7,14}$")
_PHONE_FORMATTING: Final = re.compile(r"[\s().\-]")


class PayerType(StrEnum):
    SELF_PAY = "self_pay"
    INSURANCE = "insurance"
    FEDERAL_PROGRAM = "federal_program"
    """Medicare, Medicaid, TRICARE... (BILL-30: not entitled to a Good Faith Estimate)."""


@dataclass(frozen=True, slots=True)
class EmergencyContact:
    """SAFE-03: someone to call in a crisis. `phone` is E.164 (e.g. +15551234567)."""

    name: str
    phone: str


@dataclass(frozen=True, slots=True)
class ClientProfile:
    client_id: UUID
    practice_id: UUID
    legal_name: str
    preferred_name: str | None
    date_of_birth: date
    home_state: str
    time_zone: str
    emergency_contact: EmergencyContact
    payer_type: PayerType


@dataclass(frozen=True, slots=True)
class ClientProfileInput:
    """Raw values as they arrive (strings from the wire); `parse_client_profile` validates them."""

    legal_name: str
    preferred_name: str | None
    date_of_birth: date | str
    home_state: str
    time_zone: str
    emergency_contact_name: str
    emergency_contact_phone: str
    payer_type: str


@dataclass(frozen=True, slots=True)
class ClientProfileFacts:
    """What may leave the identity service about a client profile (events): ids and coded fields."""

    client_id: UUID
    practice_id: UUID
    home_state: str
    time_zone: str
    payer_type: PayerType
    is_minor: bool
    is_minor_for_consent: bool
    guardian_consent_required: bool


_NOT_CLIENT_ZONES: Final = frozenset({"localtime", "posixrules", "Factory"})
"""Entries of a system zoneinfo directory that are not places (host-specific or placeholder)."""


@cache
def _available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_CLIENT_ZONES


def is_valid_time_zone(key: str) -> bool:
    """An IANA zone name known to the tz database (e.g. America/Chicago)."""
    if key not in _available_time_zones():
        return False
    try:
        zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def normalize_e164(phone: str) -> str | None:
    """`+1 (555) 123-4567` -> `+15551234567`; None when it is not an E.164 number."""
    candidate = _PHONE_FORMATTING.sub("", phone)
    return candidate if _E164.fullmatch(candidate) else None


def _clean_text(value: str) -> str:
    return unicodedata.normalize("NFC", " ".join(value.split()))


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(char) in {"Cc", "Cf"} for char in value)


def _check_name(errors: ValidationCollector, value: str, path: str, max_length: int) -> str:
    cleaned = _clean_text(value)
    if not cleaned:
        errors.add(path, "is required")
    elif len(cleaned) > max_length:
        errors.add(path, f"must be at most {max_length} characters")
    elif _has_control_characters(cleaned):
        errors.add(path, "must not contain control characters")
    return cleaned


def _parse_date(value: date | str) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def parse_client_profile(
    data: ClientProfileInput,
    *,
    client_id: UUID,
    practice_id: UUID,
    today: date,
    field_prefix: str = "profile",
) -> ClientProfile:
    """Validate every field (all problems reported together as `InvalidArgument`) and normalise them:
    whitespace collapsed, state upper-cased, phone in E.164, payer type as enum."""
    errors = ValidationCollector()
    p = field_prefix

    legal_name = _check_name(errors, data.legal_name, _path(p, "legal_name"), MAX_NAME_LENGTH)
    preferred_name: str | None = None
    if data.preferred_name is not None and data.preferred_name.strip():
        preferred_name = _check_name(
            errors, data.preferred_name, _path(p, "preferred_name"), MAX_PREFERRED_NAME_LENGTH
        )

    dob = _parse_date(data.date_of_birth)
    if dob is None:
        errors.add(_path(p, "date_of_birth"), "must be a date in the form YYYY-MM-DD")
    elif dob > today:
        errors.add(_path(p, "date_of_birth"), "must not be in the future")
    elif today.year - dob.year > MAX_AGE_YEARS:
        errors.add(_path(p, "date_of_birth"), "is not plausible")

    home_state = normalize_jurisdiction(data.home_state)
    if home_state is None:
        errors.add(_path(p, "home_state"), "must be a two-letter US state or territory code")

    time_zone = data.time_zone.strip()
    if not is_valid_time_zone(time_zone):
        errors.add(_path(p, "time_zone"), "must be an IANA time zone name, e.g. America/Chicago")

    contact_name = _check_name(
        errors, data.emergency_contact_name, _path(p, "emergency_contact.name"), MAX_NAME_LENGTH
    )
    phone = normalize_e164(data.emergency_contact_phone)
    if phone is None:
        errors.add(
            _path(p, "emergency_contact.phone"), "must be a phone number in E.164 form, e.g. +15551234567"
        )

    payer_type: PayerType | None = None
    try:
        payer_type = PayerType(data.payer_type.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in PayerType)
        errors.add(_path(p, "payer_type"), f"must be one of: {allowed}")

    errors.raise_if_any()
    assert dob is not None
    assert home_state is not None
    assert phone is not None
    assert payer_type is not None
    return ClientProfile(
        client_id=client_id,
        practice_id=practice_id,
        legal_name=legal_name,
        preferred_name=preferred_name,
        date_of_birth=dob,
        home_state=home_state,
        time_zone=time_zone,
        emergency_contact=EmergencyContact(name=contact_name, phone=phone),
        payer_type=payer_type,
    )


def profile_input(profile: ClientProfile) -> ClientProfileInput:
    """The raw form of a stored profile, to merge a partial update into before re-validating."""
    return ClientProfileInput(
        legal_name=profile.legal_name,
        preferred_name=profile.preferred_name,
        date_of_birth=profile.date_of_birth,
        home_state=profile.home_state,
        time_zone=profile.time_zone,
        emergency_contact_name=profile.emergency_contact.name,
        emergency_contact_phone=profile.emergency_contact.phone,
        payer_type=profile.payer_type.value,
    )


def client_profile_facts(
    profile: ClientProfile, *, table: AgeOfConsentTable, on_date: date, accept_unverified: bool = False
) -> ClientProfileFacts:
    """Event-safe facts (no names, DOB or phone), minor flags evaluated in the home state on `on_date`."""
    assessment = table.assess(
        profile.date_of_birth, profile.home_state, on_date, accept_unverified=accept_unverified
    )
    return ClientProfileFacts(
        client_id=profile.client_id,
        practice_id=profile.practice_id,
        home_state=profile.home_state,
        time_zone=profile.time_zone,
        payer_type=profile.payer_type,
        is_minor=assessment.is_minor,
        is_minor_for_consent=assessment.is_minor_for_consent,
        guardian_consent_required=assessment.guardian_consent_required,
    )


def changed_fields(before: ClientProfile, after: ClientProfile) -> tuple[str, ...]:
    """Names (not values) of the profile fields that differ; safe to put in an audit event."""
    changed: list[str] = []
    for item in fields(ClientProfile):
        old, new = getattr(before, item.name), getattr(after, item.name)
        if old == new:
            continue
        if isinstance(old, EmergencyContact) and isinstance(new, EmergencyContact):
            changed.extend(
                f"emergency_contact.{sub.name}"
                for sub in fields(EmergencyContact)
                if getattr(old, sub.name) != getattr(new, sub.name)
            )
        else:
            changed.append(item.name)
    return tuple(changed)
