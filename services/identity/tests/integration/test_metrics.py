"""Identity's domain counters move with what happens over gRPC (read from the Prometheus registry the
metrics port serves), and their labels carry codes only."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import REGISTRY

from confide.identity.v1 import identity_pb2
from confide_identity.domain.roles import Role

from .conftest import PASSWORD, Harness, totp_now

pytestmark = pytest.mark.integration


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "identity", **labels}) or 0.0


async def test_sign_ups_are_counted_by_outcome(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    created, exists = (
        sample("confide_identity_sign_ups_total", outcome="created"),
        sample("confide_identity_sign_ups_total", outcome="account_exists"),
    )
    request = identity_pb2.SignUpRequest(
        practice_id=str(practice.practice_id), email="counted@example.test", password=PASSWORD
    )
    await h.auth.SignUp(request)
    assert sample("confide_identity_sign_ups_total", outcome="created") == created + 1
    verified = await h.add_user(practice.practice_id, [Role.CLIENT])
    await h.auth.SignUp(
        identity_pb2.SignUpRequest(
            practice_id=str(practice.practice_id), email=verified.email, password=PASSWORD
        )
    )
    assert sample("confide_identity_sign_ups_total", outcome="account_exists") == exists + 1


async def test_failed_sign_ins_lockouts_and_refusals_while_locked_are_counted(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    user = await h.add_user(practice.practice_id, [Role.CLIENT])
    wrong = identity_pb2.SignInRequest(
        practice_id=str(practice.practice_id), email=user.email, password="Not-The-Password-00"
    )
    invalid = sample("confide_identity_sign_in_failures_total", reason="invalid_credentials")
    locked = sample("confide_identity_sign_in_failures_total", reason="locked")
    lockouts = sample("confide_identity_lockouts_total")

    for _ in range(5):  # the default policy locks on the fifth failure
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await h.auth.SignIn(wrong)
        assert failed.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert sample("confide_identity_sign_in_failures_total", reason="invalid_credentials") == invalid + 5
    assert sample("confide_identity_lockouts_total") == lockouts + 1

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await h.auth.SignIn(wrong)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert sample("confide_identity_sign_in_failures_total", reason="locked") == locked + 1


async def test_wrong_second_factors_are_counted(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    clinician = await h.add_user(practice.practice_id, [Role.CLINICIAN], totp=True)
    step1 = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=str(practice.practice_id), email=clinician.email, password=PASSWORD
        )
    )
    assert step1.next_step == identity_pb2.SIGN_IN_STEP_MFA_REQUIRED
    totp, recovery = (
        sample("confide_identity_mfa_failures_total", factor="totp"),
        sample("confide_identity_mfa_failures_total", factor="recovery_code"),
    )
    wrong_code = "000000" if totp_now(h.clock) != "000000" else "111111"
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await h.auth.VerifyMfa(
            identity_pb2.VerifyMfaRequest(mfa_challenge_token=step1.mfa_challenge_token, totp_code=wrong_code)
        )
    assert failed.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError):
        await h.auth.VerifyMfa(
            identity_pb2.VerifyMfaRequest(
                mfa_challenge_token=step1.mfa_challenge_token, recovery_code="not-a-code"
            )
        )
    assert sample("confide_identity_mfa_failures_total", factor="totp") == totp + 1
    assert sample("confide_identity_mfa_failures_total", factor="recovery_code") == recovery + 1


async def test_refresh_token_reuse_is_counted(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    client = await h.add_user(practice.practice_id, [Role.CLIENT])
    signed_in = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=str(practice.practice_id), email=client.email, password=PASSWORD
        )
    )
    first = signed_in.session.refresh_token
    await h.auth.Refresh(identity_pb2.RefreshRequest(refresh_token=first))
    reuse = sample("confide_identity_refresh_token_reuse_detections_total")
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await h.auth.Refresh(identity_pb2.RefreshRequest(refresh_token=first))
    assert reused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert sample("confide_identity_refresh_token_reuse_detections_total") == reuse + 1


def test_identity_counters_carry_only_the_service_and_code_labels() -> None:
    names = {
        "confide_identity_sign_in_failures": {"service", "reason"},
        "confide_identity_lockouts": {"service"},
        "confide_identity_mfa_failures": {"service", "factor"},
        "confide_identity_sign_ups": {"service", "outcome"},
        "confide_identity_refresh_token_reuse_detections": {"service"},
    }
    found = {metric.name: metric for metric in REGISTRY.collect() if metric.name in names}
    assert set(found) == set(names)
    for name, metric in found.items():
        for series in metric.samples:
            assert set(series.labels) == names[name], name
