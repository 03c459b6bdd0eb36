"""Pure parts of the adapters: JSON codecs round-trip every credential kind, page tokens are bound
to their filters, audit events map to chain entries (and poison is refused), proto conversion
reports every bad field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.common.v1 import jurisdiction_pb2, paging_pb2, time_pb2
from confide.compliance.v1 import authorization_pb2, registry_pb2
from confide_chassis.errors import InvalidArgument
from confide_compliance import testing as t
from confide_compliance.api import mapping, paging
from confide_compliance.db import codec
from confide_compliance.domain.audit import append, verify_chain
from confide_compliance.domain.credentials import (
    CompactAuthorityKind,
    Encumbrance,
    EncumbranceKind,
    Npi,
    Profession,
    SocialWorkCategory,
)
from confide_compliance.domain.modality import Modality
from confide_compliance.domain.records import ClinicianRecord, CredentialRecord, StoredAuditRecord
from confide_compliance.events.consumers import to_entry

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

RESTRICTION = Encumbrance(EncumbranceKind.RESTRICTION, date(2025, 1, 1), None, "order-1")
CREDENTIALS = [
    t.license_("l1", "CO", restrictions=[RESTRICTION]),
    t.e_passport(),
    t.apit(),
    t.ipc(),
    t.tap(),
    t.privilege("p1", "MN", "l1"),
    t.authority("sw1", CompactAuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE, jurisdiction="KS",
                category=SocialWorkCategory.CLINICAL),
    t.exception_("x1", "CA", "CA-BPC-2912", "l1", approved_on=date(2026, 2, 1),
                 notice_filed_on=date(2026, 2, 2)),
    t.bc_tmh(),
]  # fmt: skip


@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda c: type(c).__name__ + ":" + c.id)
def test_credential_json_round_trips(credential: object) -> None:
    assert codec.credential_from_json(codec.credential_to_json(credential)) == credential  # type: ignore[arg-type]


@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda c: type(c).__name__ + ":" + c.id)
def test_credential_proto_output_is_complete(credential: object) -> None:
    record = CredentialRecord(credential, "p", 1, NOW, "u")  # type: ignore[arg-type]
    out = mapping.credential(record)
    assert out.WhichOneof("details") is not None
    assert out.verification.source != registry_pb2.VERIFICATION_SOURCE_UNSPECIFIED


def test_npi_and_coverage_round_trip() -> None:
    npi = Npi("1234567893", verification=t.verified())
    assert codec.npi_from_json(codec.npi_to_json(npi)) == npi
    creds = t.credentials(t.license_("l1", "CO"), practice_jurisdiction="CO")
    from confide_compliance.domain.watch import coverage
    from confide_compliance.reference_data import load_reference_data

    value = coverage(creds, load_reference_data(), date(2026, 3, 10))
    assert codec.coverage_from_json(codec.coverage_to_json(value)) == value


def test_page_tokens_are_bound_to_their_filters() -> None:
    first = paging.next_page(42, "subject-1", None)
    page = paging.page_of(
        paging_pb2.PageRequest(page_size=10, page_token=first.next_page_token), "subject-1", None
    )
    assert (page.size, page.after) == (10, 42)
    with pytest.raises(InvalidArgument) as other:
        paging.page_of(paging_pb2.PageRequest(page_token=first.next_page_token), "subject-2", None)
    assert other.value.violations[0].field == "page.page_token"
    with pytest.raises(InvalidArgument):
        paging.page_of(paging_pb2.PageRequest(page_token="garbage!"), "subject-1", None)
    assert paging.page_of(paging_pb2.PageRequest(page_size=10_000)).size == paging.MAX_PAGE_SIZE
    assert paging.next_page(None).next_page_token == ""


def _audit_event(**overrides: object) -> audit_pb2.AuditEvent:
    event = audit_pb2.AuditEvent(
        event_id="e-1",
        actor=audit_pb2.Actor(kind=audit_pb2.ACTOR_KIND_USER, subject_id="u-1", practice_id="p-1",
                              roles=["clinician", "admin"]),
        action=audit_pb2.AUDIT_ACTION_READ,
        resource=audit_pb2.Resource(type="scheduling.appointment", id="a-1"),
        subject_person_id="c-1",
        purpose=audit_pb2.ACCESS_PURPOSE_TREATMENT,
        outcome=audit_pb2.AUDIT_OUTCOME_DENIED,
        service="scheduling",
        rule_ids=["LIC-03", "LIC-11"],
        trace_id="ab" * 16,
    )  # fmt: skip
    event.occurred_at.FromDatetime(NOW)
    for key, value in overrides.items():
        setattr(event, key, value)
    return event


def test_audit_events_map_to_chain_entries_and_back() -> None:
    entry = to_entry(_audit_event(), source="//confide/scheduling")
    assert (entry.action, entry.purpose, entry.outcome) == ("read", "treatment", "denied")
    assert entry.actor_role == "admin,clinician"
    assert dict(entry.attributes)["rule_ids"] == "LIC-03,LIC-11"
    record = append(None, entry)
    assert verify_chain([record]).ok

    out = mapping.audit_record(StoredAuditRecord(record, NOW))
    assert out.action == audit_pb2.AUDIT_ACTION_READ
    assert out.outcome == audit_pb2.AUDIT_OUTCOME_DENIED
    assert list(out.rule_ids) == ["LIC-03", "LIC-11"]
    assert list(out.actor_roles) == ["admin", "clinician"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event_id": ""}, "audit.event_id"),
        ({"service": ""}, "audit.service"),
        ({"request_id": "a\x00b"}, "audit"),
    ],
)
def test_unstorable_audit_events_are_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        to_entry(_audit_event(**overrides), source="")
    assert refused.value.violations[0].field in (field, "audit.source_service")


def test_check_request_conversion_reports_every_field() -> None:
    with pytest.raises(InvalidArgument) as bad:
        mapping.authorization_question(authorization_pb2.CheckAuthorizationRequest(profession=99))  # type: ignore[arg-type]
    assert {v.field for v in bad.value.violations} == {
        "clinician_id",
        "client_jurisdiction",
        "clinician_jurisdiction",
        "session_start",
        "client_time_zone",
        "modality",
        "profession",
    }
    ok = authorization_pb2.CheckAuthorizationRequest(
        clinician_id="0193a000-0000-7000-8000-000000000001",
        client_jurisdiction=jurisdiction_pb2.JURISDICTION_CO,
        clinician_jurisdiction=jurisdiction_pb2.JURISDICTION_CO,
        client_time_zone="America/Denver",
        modality=authorization_pb2.MODALITY_LIVE_CHAT,
    )
    ok.session_start.FromDatetime(NOW)
    command = mapping.authorization_question(ok)
    assert command.modality is Modality.CHAT
    assert mapping.check_request(command).modality == authorization_pb2.MODALITY_LIVE_CHAT


def test_license_conversion_rejects_impossible_dates() -> None:
    message = registry_pb2.StateLicense(
        jurisdiction=jurisdiction_pb2.JURISDICTION_CO,
        profession=authorization_pb2.PROFESSION_PSYCHOLOGIST,
        license_type="Psychologist",
        number="1",
        status=registry_pb2.CREDENTIAL_STATUS_ACTIVE,
        issued_on=time_pb2.LocalDate(year=2026, month=2, day=29),
        expires_on=time_pb2.LocalDate(year=2027, month=1, day=1),
    )
    with pytest.raises(InvalidArgument) as bad:
        mapping.state_license(message, "c", "k")
    assert [v.field for v in bad.value.violations] == ["license.issued_on"]


def test_every_domain_enum_has_a_proto_value() -> None:
    for profession in Profession:
        assert mapping.profession_from_proto(mapping.profession_to_proto(profession)) is profession
    for modality in Modality:
        assert mapping.modality_from_proto(mapping.modality_to_proto(modality)) is modality
    for kind in CompactAuthorityKind:
        assert mapping.compact_kind_from_proto(mapping.compact_kind_to_proto(kind)) is kind
    record = ClinicianRecord("c", "p", 1, NOW, "u", practice_jurisdiction="CO", npi=Npi("1234567893"))
    assert mapping.clinician(record).npi == "1234567893"
