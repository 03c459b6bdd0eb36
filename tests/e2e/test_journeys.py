"""Journeys over the gateway against the whole platform, the way a frontend drives it: Connect JSON
over HTTP to one origin, and the reference web client in headless Chromium. Demo data is what
`make run` seeds (docs/runbooks/demo-data.md).

The main journey: alex (a self-pay client in CA) signs in → answers the intake screening → finds a
clinician authorized for CA → books (a Good Faith Estimate is issued) → checks in from CA → dr.rivera
starts and completes the session → billing charges it with the right code → alex writes in the care
team's secure thread. And the refusals a frontend must show: an unlicensed state, a high-risk
screening, another practice's data.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .conftest import ROOT, Platform

pytestmark = pytest.mark.integration

T = TypeVar("T")
PRACTICE = "01930000-0000-7000-8000-000000000001"
ALEX = "01930000-0000-7000-8000-0000000000e1"
SAM = "01930000-0000-7000-8000-0000000000e2"
RIVERA = "01930000-0000-7000-8000-0000000000c3"
PASSWORD = "Tulip-Harbor-Lantern-42"
PROPAGATION = 90.0


def key() -> str:
    return str(uuid.uuid4())


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = PROPAGATION) -> T:
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


async def sign_in(platform: Platform, email: str, *, totp: bool = False) -> str:
    return await platform.sign_in(email, mfa=totp)


async def open_care_team_thread(platform: Platform, client_id: str, token: str) -> dict[str, Any]:
    """The client's care-team thread, once identity's care-team event has reached messaging."""

    async def thread() -> dict[str, Any] | None:
        status, reply = await platform.call(
            "confide.messaging.v1.MessagingService/CreateThread",
            {"clientId": client_id, "idempotencyKey": key()},
            token,
            expect_ok=False,
        )
        return reply["thread"] if status == 200 else None

    return await eventually(thread, "the client's care team reaching messaging")


async def send_text_message(platform: Platform, thread_id: str, body: str, token: str) -> None:
    await platform.call(
        "confide.messaging.v1.MessagingService/SendMessage",
        {"threadId": thread_id, "kind": "MESSAGE_KIND_TEXT_THERAPY", "body": body, "idempotencyKey": key()},
        token,
    )


def rule_ids(error: dict[str, Any]) -> str:
    """The rule ids a Connect error names (ErrorInfo metadata and PreconditionFailure, decoded)."""
    details = " ".join(str(detail.get("debug", "")) for detail in error.get("details", []))
    return f"{details} {error.get('message', '')}"


async def test_book_check_in_complete_bill_and_message_through_the_gateway(platform: Platform) -> None:
    alex = await sign_in(platform, "alex@demo-practice.test")
    rivera = await sign_in(platform, "dr.rivera@demo-practice.test", totp=True)

    # Intake screening (low risk) before booking.
    _, screening = await platform.call(
        "confide.scheduling.v1.ScreeningService/SubmitScreening",
        {
            "clientId": ALEX,
            "phq9": {"answers": [0, 1, 0, 1, 0, 0, 1, 0, 0]},
            "gad7": {"answers": [1, 0, 1, 0, 0, 1, 0]},
            "cssrs": {"wishToBeDead": False, "suicidalThoughts": False, "suicidalBehaviourLifetime": False},
            "idempotencyKey": key(),
        },
        alex,
    )
    assert screening["screening"]["clientId"] == ALEX

    # Find a clinician who may lawfully treat alex where she will be: CA finds dr.rivera (CA license),
    # NV finds nobody (dr.rivera is licensed only in CA).
    async def directory(state: str) -> list[str] | None:
        status, reply = await platform.call(
            "confide.directory.v1.DirectoryService/SearchClinicians",
            {
                "clientId": ALEX,
                "clientState": state,
                "clientTimeZone": "America/Los_Angeles",
                "careKind": "CARE_KIND_THERAPY",
                "modality": "MODALITY_VIDEO",
            },
            alex,
            expect_ok=False,
        )
        if status != 200:
            return None
        return [r["profile"]["clinicianId"] for r in reply.get("results", [])] or None

    assert RIVERA in await eventually(lambda: directory("JURISDICTION_CA"), "the directory's demo profiles")
    _, nevada = await platform.call(
        "confide.directory.v1.DirectoryService/SearchClinicians",
        {
            "clientId": ALEX,
            "clientState": "JURISDICTION_NV",
            "clientTimeZone": "America/Los_Angeles",
            "careKind": "CARE_KIND_THERAPY",
            "modality": "MODALITY_VIDEO",
        },
        alex,
    )
    assert RIVERA not in [r["profile"]["clinicianId"] for r in nevada.get("results", [])]

    # dr.rivera opens her calendar around now so the session can start during the test.
    await platform.call(
        "confide.scheduling.v1.AvailabilityService/SetWeeklySchedule",
        {
            "clinicianId": RIVERA,
            "timeZone": "America/Los_Angeles",
            "location": "JURISDICTION_CA",
            "modalities": ["MODALITY_VIDEO"],
            "weeklyRules": [
                {"weekday": day, "start": {"hours": 0}, "end": {"hours": 0}}
                for day in (
                    "WEEKDAY_MONDAY",
                    "WEEKDAY_TUESDAY",
                    "WEEKDAY_WEDNESDAY",
                    "WEEKDAY_THURSDAY",
                    "WEEKDAY_FRIDAY",
                    "WEEKDAY_SATURDAY",
                    "WEEKDAY_SUNDAY",
                )
            ],
            "idempotencyKey": key(),
        },
        rivera,
    )

    now = datetime.now(UTC)
    search = {
        "clientId": ALEX,
        "sessionTypeCode": "psychotherapy_45",
        "modality": "MODALITY_VIDEO",
        "window": {
            "start": rfc3339(now + timedelta(minutes=2)),
            "end": rfc3339(now + timedelta(minutes=100)),
        },
        "clientState": "JURISDICTION_CA",
        "maxResults": 5,
    }

    async def slots() -> list[dict[str, Any]] | None:
        status, reply = await platform.call(
            "confide.scheduling.v1.AvailabilityService/SearchSlots", search, alex, expect_ok=False
        )
        return reply.get("slots") if status == 200 else None

    found = await eventually(slots, "alex's profile reaching scheduling and a slot with dr.rivera")
    assert {slot["clinicianId"] for slot in found} == {RIVERA}

    # Book the first slot (retried with the same key while alex's consent is still on its way).
    book = {
        "clientId": ALEX,
        "clinicianId": RIVERA,
        "sessionTypeCode": "psychotherapy_45",
        "modality": "MODALITY_VIDEO",
        "startTime": found[0]["time"]["start"],
        "clientState": "JURISDICTION_CA",
        "idempotencyKey": key(),
    }

    async def booked() -> dict[str, Any] | None:
        status, reply = await platform.call(
            "confide.scheduling.v1.AppointmentService/BookAppointment", book, alex, expect_ok=False
        )
        return reply["appointment"] if status == 200 else None

    appointment = await eventually(booked, "the booking (consent reaching scheduling)")
    appointment_id = appointment["appointmentId"]

    # Billing issued alex (self-pay) a Good Faith Estimate for it.
    async def estimate() -> list[dict[str, Any]] | None:
        _, account = await platform.call("confide.billing.v1.AccountService/GetAccount", {}, alex)
        return account.get("estimates") or None

    (gfe,) = await eventually(estimate, "the Good Faith Estimate")
    assert gfe["services"][0]["serviceCode"] == "90834"

    # Check in from CA (the check-in window opens 15 minutes before the start).
    async def checked_in() -> dict[str, Any] | None:
        status, reply = await platform.call(
            "confide.scheduling.v1.SessionService/CheckIn",
            {
                "appointmentId": appointment_id,
                "location": {"state": "JURISDICTION_CA", "atHome": True},
                "identityConfirmed": True,
                "idempotencyKey": key(),
            },
            alex,
            expect_ok=False,
        )
        if status != 200 and "SCHED-04" not in rule_ids(reply):
            raise AssertionError(f"check-in refused: {reply}")
        return reply if status == 200 else None

    await eventually(checked_in, "the check-in window", within=20 * 60)
    await platform.call(
        "confide.scheduling.v1.SessionService/StartSession",
        {"appointmentId": appointment_id, "idempotencyKey": key()},
        rivera,
    )
    await platform.call(
        "confide.scheduling.v1.SessionService/CompleteSession",
        {
            "appointmentId": appointment_id,
            "actualMinutes": 50,
            "deliveredModality": "MODALITY_VIDEO",
            "idempotencyKey": key(),
        },
        rivera,
    )

    # The completed session became exactly one charge with the right code, place and modifier.
    async def charge() -> dict[str, Any] | None:
        _, account = await platform.call("confide.billing.v1.AccountService/GetAccount", {}, alex)
        sessions = [c for c in account.get("charges", []) if c.get("appointmentId") == appointment_id]
        return sessions[0] if sessions else None

    charged = await eventually(charge, "the session charge")
    assert charged["lines"][0]["serviceCode"] == "90834"  # 50 minutes: 38-52 band (BILL-01)
    assert charged["placeOfService"] == "10"  # at home (BILL-11)
    assert charged["modifiers"] == ["95"]  # audio-video (BILL-12)

    # A secure thread with the care team: alex writes, dr.rivera reads it.
    opened = await open_care_team_thread(platform, ALEX, alex)
    await send_text_message(platform, opened["threadId"], "Thank you for today.", alex)
    _, listed = await platform.call(
        "confide.messaging.v1.MessagingService/ListMessages", {"threadId": opened["threadId"]}, rivera
    )
    assert "Thank you for today." in [m.get("body") for m in listed["messages"]]


async def test_refusals_a_frontend_must_show(platform: Platform) -> None:
    alex = await sign_in(platform, "alex@demo-practice.test")
    now = datetime.now(UTC)
    # An unlicensed state: dr.rivera holds only a CA license; alex says she will be in NV.
    status, error = await platform.call(
        "confide.scheduling.v1.AppointmentService/BookAppointment",
        {
            "clientId": ALEX,
            "clinicianId": RIVERA,
            "sessionTypeCode": "psychotherapy_45",
            "modality": "MODALITY_VIDEO",
            "startTime": rfc3339(
                (now + timedelta(days=2)).replace(hour=17, minute=0, second=0, microsecond=0)
            ),
            "clientState": "JURISDICTION_NV",
            "idempotencyKey": key(),
        },
        alex,
        expect_ok=False,
    )
    assert status != 200
    assert error["code"] in ("failed_precondition", "invalid_argument")

    # Another practice's data: a made-up appointment id is simply not there for alex.
    status, error = await platform.call(
        "confide.scheduling.v1.AppointmentService/GetAppointment",
        {"appointmentId": key()},
        alex,
        expect_ok=False,
    )
    assert error["code"] in ("not_found", "permission_denied")

    # A high-risk intake screening routes sam to crisis resources, and self-booking is refused.
    sam = await sign_in(platform, "sam@demo-practice.test")
    _, risky = await platform.call(
        "confide.scheduling.v1.ScreeningService/SubmitScreening",
        {
            "clientId": SAM,
            "phq9": {"answers": [3, 3, 3, 3, 2, 3, 2, 2, 3]},
            "gad7": {"answers": [3, 3, 2, 3, 2, 3, 3]},
            "cssrs": {
                "wishToBeDead": True,
                "suicidalThoughts": True,
                "thoughtsWithMethod": True,
                "intentWithoutPlan": True,
                "intentWithPlan": True,
                "suicidalBehaviourLifetime": False,
            },
            "idempotencyKey": key(),
        },
        sam,
    )
    assert any("988" in str(resource) for resource in risky["screening"].get("crisisResources", []))

    # No token, no data.
    status, error = await platform.call(
        "confide.billing.v1.AccountService/GetAccount", {}, None, expect_ok=False
    )
    assert (status, error["code"]) == (401, "unauthenticated")


CHROMIUM = "/usr/bin/chromium"


def _missing() -> list[str]:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium (apt-get install chromium; .ci/run installs it)")
    if not (ROOT / "web" / "dist" / "index.html").exists():
        missing.append("the web client (make web)")
    return missing


async def test_a_person_books_and_checks_in_from_the_browser(platform: Platform, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed to drive the browser"
    assert not _missing(), _missing()
    screenshot = tmp_path / "journey.png"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(ROOT / "tests" / "e2e" / "browser" / "journey.mjs"),
        str(screenshot),
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "NODE_PATH": str(ROOT / "node_modules"),
            "GATEWAY_URL": platform.gateway,
            "CHROMIUM": CHROMIUM,
            "EMAIL": "alex@demo-practice.test",
            "PASSWORD": "Tulip-Harbor-Lantern-42",
            "STATE": "CA",
            "HOME": str(tmp_path),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 240)
    lines = stdout.decode().strip().splitlines()
    assert lines, stderr.decode()[-2000:]
    report = json.loads(lines[-1])
    assert report["ok"], report
    steps = report["steps"]
    assert steps[0] == "signed in"
    assert steps[1].startswith("found ")
    assert steps[2] == "booked"
    assert steps[-1] == "message delivered on the live stream"
    assert screenshot.stat().st_size > 0
