"""The admin CLI against the real database: create-practice (setup link or password from stdin) and
seed-demo (idempotent), then the results used over gRPC."""

from __future__ import annotations

import asyncio
import io
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from confide.identity.v1 import identity_pb2
from confide_identity import seed
from confide_identity.domain.jurisdictions import US_JURISDICTIONS
from confide_identity.wiring import COMMANDS

from .conftest import Harness, bearer

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "Granite-Meadow-Whistle-58"


def lines_with(text: str, prefix: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(prefix)).split(":", 1)[1].strip()


async def test_create_practice_prints_a_one_time_setup_link(
    identity: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    h = identity
    args = [
        "--name",
        "Lakeside Counseling",
        "--admin-email",
        "Owner@Lakeside.test",
        "--admin-name",
        "Pat Owner",
    ]
    assert await asyncio.to_thread(COMMANDS["create-practice"], h.service.settings, args) == 0
    out = capsys.readouterr().out
    assert lines_with(out, "slug") == "lakeside-counseling"
    link = out.split("password-setup link (single use, valid 72 h): ", 1)[1].strip()
    token = parse_qs(urlparse(link).query)["token"][0]
    await h.auth.ResetPassword(identity_pb2.ResetPasswordRequest(token=token, new_password=ADMIN_PASSWORD))
    result = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=lines_with(out, "practice_id"), email="owner@lakeside.test", password=ADMIN_PASSWORD
        )
    )
    assert result.next_step == identity_pb2.SIGN_IN_STEP_MFA_ENROLMENT_REQUIRED

    # The same slug again is refused, without a traceback.
    assert await asyncio.to_thread(COMMANDS["create-practice"], h.service.settings, args) == 1
    assert "exists" in capsys.readouterr().err


async def test_create_practice_takes_the_password_from_stdin(
    identity: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = identity
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    args = [
        "--name",
        "Hilltop",
        "--admin-email",
        "ops@hilltop.test",
        "--admin-name",
        "Ops",
        "--password-stdin",
    ]
    assert await asyncio.to_thread(COMMANDS["create-practice"], h.service.settings, args) == 2
    assert "password:" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO(ADMIN_PASSWORD + "\n"))
    args = [*args, "--platform-operator"]
    assert await asyncio.to_thread(COMMANDS["create-practice"], h.service.settings, args) == 0
    out = capsys.readouterr().out
    assert "password set from stdin" in out
    result = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=lines_with(out, "practice_id"), email="ops@hilltop.test", password=ADMIN_PASSWORD
        )
    )
    assert set(result.session.roles) == {
        identity_pb2.ROLE_PRACTICE_ADMIN,
        identity_pb2.ROLE_PLATFORM_OPERATOR,
    }


async def test_seed_demo_is_dev_only_and_idempotent(
    identity: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    h = identity
    assert await asyncio.to_thread(COMMANDS["seed-demo"], h.service.settings, []) == 2
    assert "IDENTITY_DEV_MODE" in capsys.readouterr().err

    dev = h.service.settings.model_copy(update={"dev_mode": True})
    assert await asyncio.to_thread(COMMANDS["seed-demo"], dev, []) == 0
    first = capsys.readouterr().out
    assert "Demo Practice: created" in first
    assert await asyncio.to_thread(COMMANDS["seed-demo"], dev, []) == 0
    second = capsys.readouterr().out
    assert "already there" in second
    practice_id = first.split("practice_id: ", 1)[1].split()[0]
    assert practice_id == str(seed.DEMO_PRACTICE_ID)  # the id the other services' demo seeds use
    assert practice_id in second

    # A seeded client signs in with the documented password; consent and care team are in place.
    alex = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=practice_id, email="alex@demo-practice.test", password=seed.DEMO_PASSWORD
        )
    )
    assert alex.next_step == identity_pb2.SIGN_IN_STEP_COMPLETE
    md = bearer(alex.session.access_token)
    status = await h.consents.GetConsentStatus(
        identity_pb2.GetConsentStatusRequest(client_id=alex.session.user_id), metadata=md
    )
    assert all(modality.satisfied for modality in status.modalities)
    assert len(status.current_document.jurisdictions) == len(US_JURISDICTIONS)
    team = await h.care_teams.ListCareTeam(
        identity_pb2.ListCareTeamRequest(client_id=alex.session.user_id), metadata=md
    )
    assert [member.clinician_display_name for member in team.members] == ["Dr. Maria Rivera"]
    assert [member.clinician_id for member in team.members] == ["01930000-0000-7000-8000-0000000000c3"]
    assert alex.session.user_id == "01930000-0000-7000-8000-0000000000e1"

    # Staff sign in with the documented TOTP secret.
    step = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=practice_id, email="dr.rivera@demo-practice.test", password=seed.DEMO_PASSWORD
        )
    )
    assert step.next_step == identity_pb2.SIGN_IN_STEP_MFA_REQUIRED
    verified = await h.auth.VerifyMfa(
        identity_pb2.VerifyMfaRequest(
            mfa_challenge_token=step.mfa_challenge_token,
            totp_code=pyotp.TOTP(seed.DEMO_TOTP_SECRET).at(h.clock()),
        )
    )
    profile = await h.profiles.GetClientProfile(
        identity_pb2.GetClientProfileRequest(client_id=alex.session.user_id),
        metadata=bearer(verified.session.access_token),
    )
    assert profile.profile.preferred_name == "Alex"
