"""Enum mappings between the domain's string enums and the API's protobuf enums.

Protobuf enum value names are the domain value in upper case behind a prefix
(`CREDENTIAL_STATUS_ACTIVE` ↔ `CredentialStatus.ACTIVE`), with one exception: the API's
`MODALITY_LIVE_CHAT` is the domain's `Modality.CHAT`. Unknown numbers (a newer client) and the
UNSPECIFIED zero map to None, so callers decide whether that is an error.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, TypeVar

from confide.common.v1 import jurisdiction_pb2
from confide.compliance.v1 import authorization_pb2, registry_pb2
from confide_chassis.wire import jurisdiction_code, jurisdiction_value
from confide_compliance.domain.authorization import AuthorityKind, Outcome
from confide_compliance.domain.credentials import (
    CompactAuthorityKind,
    CredentialStatus,
    EncumbranceKind,
    LicenseLevel,
    Profession,
    SocialWorkCategory,
    VerificationSource,
)
from confide_compliance.domain.jurisdictions import normalize_jurisdiction
from confide_compliance.domain.modality import Modality, ModalityClass

V = TypeVar("V", bound=int)
E = TypeVar("E", bound=StrEnum)


class EnumWrapper(Protocol[V]):
    def Name(self, number: V) -> str: ...  # noqa: N802 - protobuf's API

    def Value(self, name: str | bytes) -> V: ...  # noqa: N802 - protobuf's API


def to_proto(wrapper: EnumWrapper[V], prefix: str, value: StrEnum | str) -> V:
    return wrapper.Value(f"{prefix}{str(value).upper()}")


def from_proto(wrapper: EnumWrapper[V], prefix: str, number: V, domain: type[E]) -> E | None:
    if number == 0:
        return None
    try:
        name = wrapper.Name(number)
    except ValueError:
        return None
    try:
        return domain(name.removeprefix(prefix).lower())
    except ValueError:
        return None


# -- jurisdictions ---------------------------------------------------------------------------------


def jurisdiction_to_proto(code: str) -> jurisdiction_pb2.Jurisdiction.ValueType:
    return jurisdiction_value(code)


def jurisdiction_from_proto(number: jurisdiction_pb2.Jurisdiction.ValueType) -> str | None:
    code = jurisdiction_code(number)
    return None if code is None else normalize_jurisdiction(code)


# -- authorization.proto ---------------------------------------------------------------------------

_MODALITY_TO_PROTO: dict[Modality, authorization_pb2.Modality.ValueType] = {
    Modality.VIDEO: authorization_pb2.MODALITY_VIDEO,
    Modality.AUDIO: authorization_pb2.MODALITY_AUDIO,
    Modality.CHAT: authorization_pb2.MODALITY_LIVE_CHAT,
    Modality.MESSAGING: authorization_pb2.MODALITY_MESSAGING,
    Modality.IN_PERSON: authorization_pb2.MODALITY_IN_PERSON,
}
_MODALITY_FROM_PROTO = {v: k for k, v in _MODALITY_TO_PROTO.items()}


def modality_to_proto(modality: Modality) -> authorization_pb2.Modality.ValueType:
    return _MODALITY_TO_PROTO[modality]


def modality_from_proto(number: authorization_pb2.Modality.ValueType) -> Modality | None:
    return _MODALITY_FROM_PROTO.get(number)


def profession_to_proto(profession: Profession | None) -> authorization_pb2.Profession.ValueType:
    if profession is None:
        return authorization_pb2.PROFESSION_UNSPECIFIED
    return to_proto(authorization_pb2.Profession, "PROFESSION_", profession)


def profession_from_proto(number: authorization_pb2.Profession.ValueType) -> Profession | None:
    return from_proto(authorization_pb2.Profession, "PROFESSION_", number, Profession)


def authority_kind_to_proto(kind: AuthorityKind) -> authorization_pb2.AuthorityKind.ValueType:
    return to_proto(authorization_pb2.AuthorityKind, "AUTHORITY_KIND_", kind)


def outcome_to_proto(outcome: Outcome) -> authorization_pb2.ReasonOutcome.ValueType:
    return to_proto(authorization_pb2.ReasonOutcome, "REASON_OUTCOME_", outcome)


# -- registry.proto --------------------------------------------------------------------------------


def status_to_proto(status: CredentialStatus) -> registry_pb2.CredentialStatus.ValueType:
    return to_proto(registry_pb2.CredentialStatus, "CREDENTIAL_STATUS_", status)


def status_from_proto(number: registry_pb2.CredentialStatus.ValueType) -> CredentialStatus | None:
    return from_proto(registry_pb2.CredentialStatus, "CREDENTIAL_STATUS_", number, CredentialStatus)


def level_to_proto(level: LicenseLevel) -> registry_pb2.LicenseLevel.ValueType:
    return to_proto(registry_pb2.LicenseLevel, "LICENSE_LEVEL_", level)


def level_from_proto(number: registry_pb2.LicenseLevel.ValueType) -> LicenseLevel | None:
    return from_proto(registry_pb2.LicenseLevel, "LICENSE_LEVEL_", number, LicenseLevel)


def encumbrance_kind_to_proto(kind: EncumbranceKind) -> registry_pb2.EncumbranceKind.ValueType:
    return to_proto(registry_pb2.EncumbranceKind, "ENCUMBRANCE_KIND_", kind)


def encumbrance_kind_from_proto(number: registry_pb2.EncumbranceKind.ValueType) -> EncumbranceKind | None:
    return from_proto(registry_pb2.EncumbranceKind, "ENCUMBRANCE_KIND_", number, EncumbranceKind)


def source_to_proto(source: VerificationSource) -> registry_pb2.VerificationSource.ValueType:
    return to_proto(registry_pb2.VerificationSource, "VERIFICATION_SOURCE_", source)


def source_from_proto(number: registry_pb2.VerificationSource.ValueType) -> VerificationSource | None:
    return from_proto(registry_pb2.VerificationSource, "VERIFICATION_SOURCE_", number, VerificationSource)


def compact_kind_to_proto(kind: CompactAuthorityKind) -> registry_pb2.CompactAuthorityKind.ValueType:
    return to_proto(registry_pb2.CompactAuthorityKind, "COMPACT_AUTHORITY_KIND_", kind)


def compact_kind_from_proto(
    number: registry_pb2.CompactAuthorityKind.ValueType,
) -> CompactAuthorityKind | None:
    return from_proto(
        registry_pb2.CompactAuthorityKind, "COMPACT_AUTHORITY_KIND_", number, CompactAuthorityKind
    )


def category_to_proto(category: SocialWorkCategory | None) -> registry_pb2.SocialWorkCategory.ValueType:
    if category is None:
        return registry_pb2.SOCIAL_WORK_CATEGORY_UNSPECIFIED
    return to_proto(registry_pb2.SocialWorkCategory, "SOCIAL_WORK_CATEGORY_", category)


def category_from_proto(number: registry_pb2.SocialWorkCategory.ValueType) -> SocialWorkCategory | None:
    return from_proto(registry_pb2.SocialWorkCategory, "SOCIAL_WORK_CATEGORY_", number, SocialWorkCategory)


def modality_class_to_proto(value: ModalityClass) -> registry_pb2.ModalityClass.ValueType:
    return to_proto(registry_pb2.ModalityClass, "MODALITY_CLASS_", value)
