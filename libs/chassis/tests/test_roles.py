"""Token role strings and the proto Role enum cannot drift apart."""

from __future__ import annotations

import pytest

from confide.common.v1 import access_pb2
from confide_chassis import roles
from confide_chassis.auth import Access


def test_every_proto_role_has_its_token_string() -> None:
    names = {roles.role_name(v) for v in access_pb2.Role.values() if v != access_pb2.ROLE_UNSPECIFIED}
    assert names == roles.EVERY_ROLE


def test_unspecified_names_no_role() -> None:
    with pytest.raises(ValueError, match="UNSPECIFIED"):
        roles.role_name(access_pb2.ROLE_UNSPECIFIED)


def test_an_access_rule_becomes_the_chassis_access() -> None:
    rule = access_pb2.AccessRule(
        roles=[access_pb2.ROLE_CLINICIAN, access_pb2.ROLE_PRACTICE_ADMIN], require_mfa=True, gateway=True
    )
    access = Access.from_rule(rule)
    assert access.roles == {roles.CLINICIAN, roles.PRACTICE_ADMIN}
    assert access.require_mfa
    assert access.gateway
    assert not access.public
