"""PHI canaries: unique PHI-like strings go everywhere PHI goes, and must surface nowhere else.

A new client signs up and fills in everything a client can type (names, emergency contact, typed
consent signature, contact addresses for notifications, a directory search), is put on dr.rivera's
care team, writes to her (an ordinary message, an amendment, and one with crisis language, so the
crisis flow runs: RiskFlagged, the care-team alert, notifications), dr.rivera replies, a practice
admin records a sliding-scale determination with its evidence, and the client prints a superbill
with their name on it. Every value carries its own canary (`cnry` + 16 random hex digits).

Then every sink is read and searched for every canary: every service's log, every /metrics page,
every Kafka record since the test began (key, headers, value; events are ids-only by design,
docs/architecture.md "Events: Content", so no canary is allowed on any topic), every exported span,
every e-mail messaging sent, the e-mails identity wrote in dev mode, and every service's database.

Where a canary may legitimately be (and nowhere else):
- identity's database: the names, e-mail, emergency contact and typed signature (identity owns them);
- billing's database: the sliding-scale evidence (billing owns it; never in logs or events);
- an e-mail's To header and SMTP envelope: the address it is delivered to, and only in that e-mail.
  Identity's verification/reset e-mails likewise carry the address they are sent to ("to"), never a
  name (MSG-03: a notification says only that something is waiting);
- nowhere at all in plaintext: message bodies, amendment reasons and notification contacts are
  encrypted at rest in messaging (MSG-01); the superbill name is printed, never stored; a search
  text is used, never kept.

Every sink must be non-empty and show a positive control (something the test caused that is
expected there: the request's trace id in logs and spans, the request id and thread id on Kafka, the
recipient address in the To header, the owner's copy in its database), so the test cannot pass
because it looked at nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import aiohttp
import pytest

from .conftest import Platform
from .phi_sinks import (
    CapturedEmail,
    Sink,
    captured_emails,
    database_sinks,
    identity_dev_mail,
    kafka_sinks,
    log_sinks,
    metrics_sinks,
    span_sinks,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")
PRACTICE = "01930000-0000-7000-8000-000000000001"
RIVERA = "01930000-0000-7000-8000-0000000000c3"
PROPAGATION = 60.0


def _token() -> str:
    return f"cnry{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Canaries:
    """One canary per PHI value, so a leak names the field that leaked."""

    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls) -> Canaries:
        return cls({name: _token() for name in CANARY_FIELDS})

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def found_in(self, sink: Sink) -> list[str]:
        return [name for name, token in self.values.items() if sink.contains(token)]


CANARY_FIELDS = (
    "sign_up_email",
    "legal_name",
    "preferred_name",
    "emergency_contact_name",
    "consent_signer_name",
    "client_notification_email",
    "clinician_notification_email",
    "client_message",
    "clinician_reply",
    "amended_message",
    "amendment_reason",
    "crisis_message",
    "sliding_scale_evidence",
    "superbill_name",
    "directory_search",
    "rejected_email",
    "rejected_phone",
)

# Where a canary may be, by sink (see the module docstring); everything else is a leak.
OWNED_BY_IDENTITY = frozenset(
    {"sign_up_email", "legal_name", "preferred_name", "emergency_contact_name", "consent_signer_name"}
)
ALLOWED_IN_DATABASE = {"identity": OWNED_BY_IDENTITY, "billing": frozenset({"sliding_scale_evidence"})}


def key() -> str:
    return str(uuid.uuid4())


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = PROPAGATION) -> T:
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


async def call_with_headers(
    platform: Platform, path: str, body: dict[str, Any], token: str, headers: dict[str, str]
) -> dict[str, Any]:
    """A Connect JSON call with extra headers (trace context, request id)."""
    sent = {"content-type": "application/json", "authorization": f"Bearer {token}", **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{platform.gateway}/{path}", data=json.dumps(body), headers=sent) as reply,
    ):
        payload: dict[str, Any] = await reply.json(content_type=None)
        assert reply.status == 200, f"{path} answered {reply.status}: {payload}"
        return payload


async def sign_in_staff(platform: Platform, email: str) -> str:
    return await platform.sign_in(email, mfa=True)


async def sign_up_client(platform: Platform, c: Canaries) -> tuple[str, str]:
    """SignUp → the verification link identity wrote → VerifyEmail → SignIn: (client id, token)."""
    email = f"casey.{c['sign_up_email']}@example.com"
    password = f"Meadow {secrets.token_hex(6)} Lantern"
    await platform.call(
        "confide.identity.v1.AuthService/SignUp",
        {"practiceId": PRACTICE, "email": email, "password": password},
    )

    async def link() -> str | None:
        for _, mail in identity_dev_mail(platform):
            if mail.get("to") == email and mail.get("kind") == "verify_email":
                return mail["link"]
        return None

    verification = await eventually(link, "the verification e-mail", within=20)
    token = parse_qs(urlparse(verification).query)["token"][0]
    await platform.call("confide.identity.v1.AuthService/VerifyEmail", {"token": token})
    _, reply = await platform.call(
        "confide.identity.v1.AuthService/SignIn",
        {"practiceId": PRACTICE, "email": email, "password": password},
    )
    return str(reply["session"]["userId"]), str(reply["session"]["accessToken"])


async def refused(platform: Platform, path: str, body: dict[str, Any], token: str | None = None) -> None:
    """Bad input carrying a canary: error paths are where values get echoed into logs and spans."""
    status, reply = await platform.call(path, body, token, expect_ok=False)
    assert reply.get("code") == "invalid_argument", (path, status, reply)


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True, timeout=30
    ).stdout.decode(errors="replace")


async def test_phi_canaries_never_reach_logs_metrics_events_spans_or_notifications(
    platform: Platform,
) -> None:
    # Kafka timestamps are the broker host's clock, like ours: a small margin covers rounding.
    since_ms = int(time.time() * 1000) - 5_000
    c = Canaries.new()
    # Not PHI, chosen by the test: the trace id of one request is expected in logs, spans and events.
    trace_id = secrets.token_hex(16)
    control_headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}

    admin, rivera = await asyncio.gather(
        sign_in_staff(platform, "admin@demo-practice.test"),
        sign_in_staff(platform, "dr.rivera@demo-practice.test"),
    )

    # --- identity: sign-up, profile, consent ------------------------------------------------------
    await refused(
        platform,
        "confide.identity.v1.AuthService/SignUp",
        {
            "practiceId": PRACTICE,
            "email": f"{c['rejected_email']} at home",
            "password": "Meadow Lantern Harbor",
        },
    )
    client_id, client = await sign_up_client(platform, c)
    profile = {
        "legalName": f"Casey {c['legal_name']} Morgan",
        "preferredName": f"Kit {c['preferred_name']}",
        "dateOfBirth": {"year": 1991, "month": 4, "day": 17},
        "homeState": "JURISDICTION_CA",
        "timeZone": "America/Los_Angeles",
        "emergencyContact": {"name": f"Robin {c['emergency_contact_name']} Morgan", "phone": "+14155550123"},
        "payerType": "PAYER_TYPE_SELF_PAY",
    }
    await refused(
        platform,
        "confide.identity.v1.ClientProfileService/UpdateClientProfile",
        {
            "clientId": client_id,
            "profile": {
                **profile,
                "emergencyContact": {"name": "Robin", "phone": f"call {c['rejected_phone']}"},
            },
        },
        client,
    )
    await platform.call(
        "confide.identity.v1.ClientProfileService/UpdateClientProfile",
        {"clientId": client_id, "profile": profile},
        client,
    )
    _, current = await platform.call(
        "confide.identity.v1.ConsentService/GetCurrentConsentDocument", {}, client
    )
    await platform.call(
        "confide.identity.v1.ConsentService/SignConsent",
        {
            "clientId": client_id,
            "documentId": current["document"]["documentId"],
            "documentVersion": current["document"]["version"],
            "jurisdiction": "JURISDICTION_CA",
            "signerRole": "SIGNER_ROLE_CLIENT",
            "method": "SIGNATURE_METHOD_TYPED",
            "signerName": f"Casey {c['consent_signer_name']} Morgan",
        },
        client,
    )
    # A reset e-mail written now that identity knows the names: it must not greet anyone by name.
    await platform.call(
        "confide.identity.v1.AuthService/RequestPasswordReset",
        {"practiceId": PRACTICE, "email": f"casey.{c['sign_up_email']}@example.com"},
    )
    await platform.call(
        "confide.identity.v1.CareTeamService/AssignClinician",
        {"clientId": client_id, "clinicianId": RIVERA},
        admin,
    )

    # --- notification contacts (so messaging e-mails both sides) ---------------------------------
    _, rivera_before = await platform.call(
        "confide.messaging.v1.NotificationService/GetNotificationPreferences", {}, rivera
    )
    client_address = f"kit.{c['client_notification_email']}@example.com"
    rivera_address = f"rivera.{c['clinician_notification_email']}@example.com"
    await platform.call(
        "confide.messaging.v1.NotificationService/SetNotificationPreferences",
        {"preferences": {"emailEnabled": True, "emailAddress": client_address}},
        client,
    )
    await platform.call(
        "confide.messaging.v1.NotificationService/SetNotificationPreferences",
        {"preferences": {"emailEnabled": True, "emailAddress": rivera_address}},
        rivera,
    )
    try:
        # --- messaging: the care-team thread, a reply, an amendment, crisis language -------------
        async def thread() -> str | None:
            status, reply = await platform.call(
                "confide.messaging.v1.MessagingService/CreateThread",
                {"clientId": client_id, "idempotencyKey": key()},
                client,
                expect_ok=False,
            )
            return str(reply["thread"]["threadId"]) if status == 200 else None

        thread_id = await eventually(thread, "the care team reaching messaging")
        sent = await call_with_headers(
            platform,
            "confide.messaging.v1.MessagingService/SendMessage",
            {
                "threadId": thread_id,
                "kind": "MESSAGE_KIND_TEXT_THERAPY",
                "body": f"I tried the breathing exercise {c['client_message']} twice this week.",
                "idempotencyKey": key(),
            },
            client,
            control_headers,
        )
        await platform.call(
            "confide.messaging.v1.MessagingService/SendMessage",
            {
                "threadId": thread_id,
                "kind": "MESSAGE_KIND_TEXT_THERAPY",
                "body": f"Glad it helped {c['clinician_reply']}. Let's build on it Thursday.",
                "idempotencyKey": key(),
            },
            rivera,
        )
        await platform.call(
            "confide.messaging.v1.MessagingService/AmendMessage",
            {
                "messageId": sent["message"]["messageId"],
                "body": f"I tried the breathing exercise {c['amended_message']} three times this week.",
                "reason": f"miscounted {c['amendment_reason']}",
                "idempotencyKey": key(),
            },
            client,
        )
        _, crisis = await platform.call(
            "confide.messaging.v1.MessagingService/SendMessage",
            {
                "threadId": thread_id,
                "kind": "MESSAGE_KIND_TEXT_THERAPY",
                "body": f"Tonight I want to kill myself. {c['crisis_message']}",
                "idempotencyKey": key(),
            },
            client,
        )
        assert crisis.get("riskFlagId"), crisis  # the crisis flow ran with the canary in the text

        # --- billing: sliding-scale evidence, a superbill with the client's name ----------------
        async def sliding_scale() -> bool:
            status, _ = await platform.call(
                "confide.billing.v1.BillingSetupService/RecordSlidingScale",
                {
                    "clientId": client_id,
                    "tierCode": "A",
                    "evidence": f"Lost job in March; household income {c['sliding_scale_evidence']}",
                    "reviewOn": {"year": date.today().year + 1, "month": 1, "day": 15},
                    "idempotencyKey": key(),
                },
                admin,
                expect_ok=False,
            )
            return status == 200

        await eventually(sliding_scale, "the client's profile reaching billing")
        today = datetime.now(UTC).date()
        _, superbill = await platform.call(
            "confide.billing.v1.AccountService/GetSuperbill",
            {
                "fromDate": {"year": today.year, "month": 1, "day": 1},
                "toDate": {"year": today.year, "month": today.month, "day": today.day},
                "clientName": f"Casey {c['superbill_name']} Morgan",
                "clientDateOfBirth": {"year": 1991, "month": 4, "day": 17},
            },
            client,
        )

        # --- directory: a client's search text; a clinician's bio (not PHI: a control) ----------
        await platform.call(
            "confide.directory.v1.DirectoryService/SearchClinicians",
            {
                "clientState": "JURISDICTION_CA",
                "clientTimeZone": "America/Los_Angeles",
                "careKind": "CARE_KIND_THERAPY",
                "query": f"grief after my divorce {c['directory_search']}",
            },
            client,
        )
        bio_control = f"bio-control-{secrets.token_hex(8)}"
        _, mine = await platform.call("confide.directory.v1.ProfileService/GetMyProfile", {}, rivera)
        draft = mine["profile"]["draft"]
        _, updated = await platform.call(
            "confide.directory.v1.ProfileService/UpdateMyProfile",
            {
                "content": {**draft, "bio": f"{draft.get('bio', '')} {bio_control}".strip()},
                "idempotencyKey": key(),
            },
            rivera,
        )
        assert bio_control in updated["profile"]["draft"]["bio"]

        # --- the owners read their data back: the canaries are really stored -------------------
        _, listed = await platform.call(
            "confide.messaging.v1.MessagingService/ListMessages", {"threadId": thread_id}, client
        )
        bodies = " ".join(m.get("body", "") + m.get("amendmentReason", "") for m in listed["messages"])
        for name in (
            "client_message",
            "clinician_reply",
            "amended_message",
            "amendment_reason",
            "crisis_message",
        ):
            assert c[name] in bodies, name
        _, stored = await platform.call(
            "confide.identity.v1.ClientProfileService/GetClientProfile", {"clientId": client_id}, client
        )
        assert c["legal_name"] in stored["profile"]["legalName"]
        assert c["emergency_contact_name"] in stored["profile"]["emergencyContact"]["name"]
        _, contacts = await platform.call(
            "confide.messaging.v1.NotificationService/GetNotificationPreferences", {}, client
        )
        assert contacts["preferences"]["emailAddress"] == client_address
        assert c["superbill_name"] in pdf_text(_b64(superbill["pdf"]))

        # --- the notifications: an urgent alert and a new-message notice for rivera, a notice for the
        # client (dr.rivera's reply). Delivery runs every few seconds.
        def mails_to(address: str) -> list[CapturedEmail]:
            return [m for m in captured_emails(platform) if address in m.recipients]

        await eventually(
            lambda: _async([m for m in mails_to(rivera_address) if m.subject.startswith("Urgent")]),
            "the crisis alert e-mail to dr.rivera",
            within=30,
        )
        await eventually(
            lambda: _async(mails_to(client_address)), "the new-message e-mail to the client", within=30
        )
    finally:
        await platform.call(
            "confide.messaging.v1.NotificationService/SetNotificationPreferences",
            {"preferences": rivera_before.get("preferences", {})},
            rivera,
        )

    # Spans and outbox relays trail the requests by a moment; the positive controls below wait for them.
    kafka = await eventually(
        lambda: _kafka_with_controls(platform, since_ms, [thread_id.encode(), client_id.encode()]),
        "the journey's events on Kafka (the thread's MessageSent, the client's RiskFlagged)",
        within=30,
    )
    spans = await eventually(lambda: _spans_with_trace(platform, trace_id), "the request's spans", within=15)
    logs = log_sinks(platform)
    metrics = await metrics_sinks(platform)
    databases = await database_sinks(platform)
    emails = captured_emails(platform)
    dev_mail = [
        (path, mail) for path, mail in identity_dev_mail(platform) if mail.get("user_id") == client_id
    ]

    # --- each sink was read and holds what the journey put there (positive controls) ---------------
    assert sum(len(s.data) for s in logs) > 0
    assert any(trace_id.encode() in s.data for s in logs), "the request's trace id is in no log"
    assert all(s.data for s in metrics), [s.where for s in metrics if not s.data]
    assert any(b"SendMessage" in s.data for s in metrics if s.where == "messaging")
    assert any(s.where.startswith("confide.messaging.risk-flags.v1") for s in kafka), (
        "no RiskFlagged on Kafka"
    )
    assert any(s.where.startswith("confide.messaging.notifications.v1") for s in kafka)
    # The trace id travels as text in the audit event and the traceparent header: a byte search
    # finds a string field's value in a protobuf payload.
    assert any(trace_id.encode() in s.data for s in kafka if s.where.startswith("confide.audit.events.v1"))
    assert any(client_id.encode() in s.data for s in kafka if s.where.startswith("confide.identity.users.v1"))
    assert any(rivera_address in m.to for m in emails)
    assert any(client_address in m.to for m in emails)
    assert {mail["kind"] for _, mail in dev_mail} >= {"verify_email", "password_reset"}, dev_mail
    assert all(mail["to"] == f"casey.{c['sign_up_email']}@example.com" for _, mail in dev_mail)
    assert _hits(databases, "identity.", c["legal_name"]), "the identity database scan sees nothing"
    assert _hits(databases, "billing.", c["sliding_scale_evidence"])
    assert _hits(databases, "directory.", bio_control), "the directory database scan sees nothing"

    # --- and no canary anywhere it does not belong -------------------------------------------------
    leaks: list[str] = []
    for sink in [*logs, *metrics, *kafka, *spans]:
        leaks += [f"{name} in {sink.kind} {sink.where}" for name in c.found_in(sink)]
    for mail in emails:
        # The recipient's own address is how an e-mail is delivered: allowed in To and the envelope of
        # that e-mail only. Anything else (subject, body, other headers) is fixed text (MSG-03).
        elsewhere = Sink("email", f"to {mail.to}", mail.everything_but_the_recipient())
        leaks += [f"{name} in e-mail to {mail.to}: {mail.subject}" for name in c.found_in(elsewhere)]
        delivered_to = " ".join(mail.recipients)
        leaks += [
            f"{name} in the To header of an e-mail delivered to {delivered_to}"
            for name, token in c.values.items()
            if token in mail.to and token not in delivered_to
        ]
    for path, written in identity_dev_mail(platform):
        without_recipient = {k: v for k, v in written.items() if k != "to"}
        body = Sink("identity-mail", path.name, json.dumps(without_recipient).encode())
        leaks += [f"{name} in identity's e-mail {path.name}" for name in c.found_in(body)]
    for sink in databases:
        allowed = ALLOWED_IN_DATABASE.get(sink.where.split(".", 1)[0], frozenset())
        leaks += [
            f"{name} in database table {sink.where}" for name in c.found_in(sink) if name not in allowed
        ]
    assert not leaks, "PHI canaries leaked:\n" + "\n".join(sorted(set(leaks)))


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


async def _async(value: T) -> T:
    return value


def _hits(sinks: list[Sink], prefix: str, needle: str) -> list[str]:
    return [s.where for s in sinks if s.where.startswith(prefix) and s.contains(needle)]


async def _spans_with_trace(platform: Platform, trace_id: str) -> list[Sink] | None:
    sinks = span_sinks(platform)
    return sinks if any(bytes.fromhex(trace_id) in s.data for s in sinks) else None


async def _kafka_with_controls(platform: Platform, since_ms: int, controls: list[bytes]) -> list[Sink] | None:
    sinks = await kafka_sinks(platform.bootstrap_servers, since_ms)
    return sinks if all(any(control in s.data for s in sinks) for control in controls) else None
