"""Who may call each scheduling RPC is declared on the RPC in the proto (an RPC without a declaration
cannot be called at all); these are the declarations the service registers."""

from __future__ import annotations

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide_chassis import roles
from confide_chassis.auth import Access

METHODS = [m for s in pb.DESCRIPTOR.services_by_name.values() for m in s.methods]


def access(name: str) -> Access:
    (method,) = [m for m in METHODS if m.name == name]
    declared = Access.of_method(method)
    assert declared is not None
    return declared


def test_every_scheduling_rpc_declares_who_may_call_it_and_is_served_to_browsers() -> None:
    assert len(METHODS) == 37
    undeclared = [m.full_name for m in METHODS if Access.of_method(m) is None]
    assert undeclared == []
    assert all(access(m.name).gateway for m in METHODS)
    assert not any(access(m.name).public for m in METHODS)  # every RPC needs a signed-in user


def test_staff_operations_require_mfa_and_the_staff_roles() -> None:
    for name in ("GetSchedule", "SetWeeklySchedule", "AddTimeOff", "MarkNoShow", "RecheckAuthorization"):
        assert access(name).roles == {roles.CLINICIAN, roles.PRACTICE_ADMIN}
        assert access(name).require_mfa
    assert access("SetCancellationPolicy").roles == {roles.PRACTICE_ADMIN}
    assert access("StartSession").roles == {roles.CLINICIAN}
    assert access("StartSession").require_mfa


def test_client_facing_operations_keep_their_roles() -> None:
    assert access("BookAppointment").roles == {roles.CLIENT, roles.CLINICIAN, roles.PRACTICE_ADMIN}
    assert not access("BookAppointment").require_mfa  # relationship rules ask staff for MFA
    assert access("AcceptWaitlistOffer").roles == {roles.CLIENT}
    assert access("SubmitScreening").roles == {roles.CLIENT, roles.CLINICIAN}
    assert access("ListSessionTypes").roles == frozenset()  # any signed-in user
