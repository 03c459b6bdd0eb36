"""Audit events name who did what to whose record, and nothing more."""

from confide.audit.v1 import events_pb2 as audit_pb2
from confide_chassis import audit
from confide_chassis.auth import Principal, reset_principal, set_principal
from confide_chassis.events import OutgoingEvent


def test_audit_event_takes_the_current_caller_as_actor() -> None:
    token = set_principal(Principal("clin-1", "prac-1", frozenset({"clinician"}), mfa=True))
    try:
        event = audit.audit_event(
            service="identity",
            action=audit.READ,
            resource_type="client_profile",
            resource_id="client-9",
            subject_person_id="client-9",
            purpose=audit.TREATMENT,
        )
    finally:
        reset_principal(token)
    assert event.actor.kind == audit_pb2.ACTOR_KIND_USER
    assert (event.actor.subject_id, event.actor.practice_id) == ("clin-1", "prac-1")
    assert list(event.actor.roles) == ["clinician"]
    assert event.outcome == audit.SUCCESS
    outgoing = OutgoingEvent.from_message(event)
    assert outgoing.topic == "confide.audit.events.v1"
    assert outgoing.key == "client-9"  # one chain per person


def test_service_actions_are_attributed_to_the_service() -> None:
    event = audit.audit_event(
        service="compliance",
        action=audit.UPDATE,
        resource_type="license",
        resource_id="lic-1",
        subject_person_id="",
        purpose=audit.OPERATIONS,
        outcome=audit.DENIED,
        rule_ids=["LIC-03"],
    )
    assert event.actor.kind == audit_pb2.ACTOR_KIND_SERVICE
    assert event.actor.subject_id == "compliance"
    assert event.subject_person_id == "license:lic-1"
    assert list(event.rule_ids) == ["LIC-03"]


def test_the_audit_event_id_is_the_cloudevents_id() -> None:
    event = audit.audit_event(
        service="identity",
        action=audit.READ,
        resource_type="client_profile",
        resource_id="c",
        subject_person_id="c",
        purpose=audit.TREATMENT,
    )
    assert OutgoingEvent.from_message(event).event_id == event.event_id
