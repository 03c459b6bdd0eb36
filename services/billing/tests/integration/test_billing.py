"""Billing end to end over real gRPC, Kafka, PostgreSQL and stripe-mock: estimates on booking,
exactly-once charges with the right codes, plans first, fees only when allowed, invoices, payments,
refunds and superbills."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY

from confide.billing.v1 import billing_pb2 as pb
from confide.common.v1 import time_pb2
from confide.identity.v1 import events_pb2 as identity_events
from confide.identity.v1 import identity_pb2
from confide.scheduling.v1 import events_pb2 as sched
from confide.scheduling.v1 import scheduling_pb2 as sched_pb
from confide_chassis.wire import timestamp

from .conftest import Billing, Practice, eventually, new_id, new_practice, usd

pytestmark = pytest.mark.integration

SCHEDULING = "//confide/scheduling"


def booked(practice: Practice, client_id: str, start: datetime, minutes: int = 45) -> sched.AppointmentBooked:
    return sched.AppointmentBooked(
        appointment_id=new_id(),
        practice_id=practice.practice_id,
        clinician_id=practice.clinician_id,
        client_id=client_id,
        session_type_code=f"psychotherapy_{minutes}",
        session_kind=sched_pb.SESSION_KIND_PSYCHOTHERAPY,
        modality=sched_pb.MODALITY_VIDEO,
        start_time=timestamp(start),
        end_time=timestamp(start + timedelta(minutes=minutes)),
        occurred_at=timestamp(datetime.now(UTC)),
    )


def completed(
    practice: Practice,
    client_id: str,
    *,
    minutes: int = 45,
    kind: int = sched_pb.SESSION_KIND_PSYCHOTHERAPY,
    modality: int = sched_pb.MODALITY_VIDEO,
    at_home: bool = True,
    appointment_id: str | None = None,
) -> sched.SessionCompleted:
    now = datetime.now(UTC)
    return sched.SessionCompleted(
        appointment_id=appointment_id or new_id(),
        practice_id=practice.practice_id,
        clinician_id=practice.clinician_id,
        client_id=client_id,
        session_kind=kind,  # type: ignore[arg-type]
        duration_minutes=minutes,
        modality=modality,  # type: ignore[arg-type]
        at_home=at_home,
        started_at=timestamp(now - timedelta(minutes=minutes)),
        completed_at=timestamp(now),
    )


async def account(billing: Billing, practice: Practice, client_id: str) -> pb.GetAccountResponse:
    return await billing.accounts.GetAccount(pb.GetAccountRequest(), metadata=practice.client(client_id))


async def charges_of(billing: Billing, practice: Practice, client_id: str, count: int) -> list[pb.Charge]:
    async def enough() -> list[pb.Charge] | None:
        found = list((await account(billing, practice, client_id)).charges)
        return found if len(found) >= count else None

    result: list[pb.Charge] = await eventually(enough)
    return result


async def test_bill_30_31_a_booking_for_a_self_pay_client_issues_a_good_faith_estimate(
    billing: Billing,
) -> None:
    practice = await new_practice(billing)
    client = await practice.add_client()
    start = datetime.now(UTC) + timedelta(days=21)
    await billing.send(booked(practice, client, start), source=SCHEDULING)

    async def issued() -> list[pb.GoodFaithEstimate] | None:
        estimates = list((await account(billing, practice, client)).estimates)
        return estimates or None

    (estimate,) = await eventually(issued)
    assert [(s.service_code, s.quantity, s.unit_fee.amount_minor) for s in estimate.services] == [
        ("90834", 1, 15_000)
    ]
    assert estimate.total.amount_minor == 15_000
    assert estimate.provider.npi == "1987654321"
    assert estimate.tax_id == "12-3456789"
    assert any("$400" in text for text in estimate.disclaimers)  # BILL-32: dispute resolution notice
    assert estimate.HasField("due_on")  # booked 3+ weeks ahead: a deadline applies (BILL-31)
    assert (
        await billing.scalar(
            "SELECT count(*) FROM outbox WHERE event_type = 'confide.billing.v1.GoodFaithEstimateIssued'"
            " AND record_key = :c",
            c=client,
        )
        == 1
    )

    # A second booking changes what the client can expect: a new version supersedes the first.
    await billing.send(booked(practice, client, start + timedelta(days=7)), source=SCHEDULING)

    async def reissued() -> pb.GoodFaithEstimate | None:
        current = list((await account(billing, practice, client)).estimates)
        return current[0] if current and current[0].version == 2 else None

    second = await eventually(reissued)
    assert second.services[0].quantity == 2
    assert second.total.amount_minor == 30_000


async def test_bill_30_no_estimate_for_insured_clients(billing: Billing) -> None:
    practice = await new_practice(billing)
    insured = await practice.add_client(identity_pb2.PAYER_TYPE_INSURANCE)
    marker = await practice.add_client()
    await billing.send(booked(practice, insured, datetime.now(UTC) + timedelta(days=14)), source=SCHEDULING)
    await billing.send(booked(practice, marker, datetime.now(UTC) + timedelta(days=14)), source=SCHEDULING)

    async def marker_issued() -> bool:
        return bool((await account(billing, practice, marker)).estimates)

    await eventually(marker_issued)  # events of one topic partition order; the marker proves progress
    assert (
        await billing.scalar("SELECT count(*) FROM good_faith_estimates WHERE client_id = :c", c=insured) == 0
    )


async def test_completed_session_is_charged_exactly_once_with_the_right_code(billing: Billing) -> None:
    practice = await new_practice(billing)
    client = await practice.add_client()
    event = completed(practice, client, minutes=52, at_home=True)
    first_id = await billing.send(event, source=SCHEDULING)
    await billing.send(event, source=SCHEDULING, event_id=first_id)  # a redelivery
    await billing.send(event, source=SCHEDULING)  # republished with a new event id

    (charge,) = await charges_of(billing, practice, client, 1)
    assert [line.service_code for line in charge.lines] == ["90834"]  # 38-52 minutes (BILL-01)
    assert charge.place_of_service == "10"
    assert list(charge.modifiers) == ["95"]
    assert charge.amount.amount_minor == 15_000
    # Let the copies drain, then count: still one charge, one event.
    marker = await practice.add_client()
    await billing.send(completed(practice, marker), source=SCHEDULING)
    await charges_of(billing, practice, marker, 1)
    assert await billing.scalar("SELECT count(*) FROM charges WHERE client_id = :c", c=client) == 1
    assert (
        await billing.scalar(
            "SELECT count(*) FROM outbox"
            " WHERE event_type = 'confide.billing.v1.ChargeCreated' AND record_key = :c",
            c=client,
        )
        == 1
    )


async def test_crisis_and_audio_only_coding(billing: Billing) -> None:
    practice = await new_practice(billing)
    client = await practice.add_client()
    await billing.send(
        completed(practice, client, minutes=80, kind=sched_pb.SESSION_KIND_CRISIS, at_home=False),
        source=SCHEDULING,
    )
    await billing.send(
        completed(practice, client, minutes=30, modality=sched_pb.MODALITY_AUDIO_ONLY), source=SCHEDULING
    )
    charges = await charges_of(billing, practice, client, 2)
    by_code = {c.lines[0].service_code: c for c in charges}
    crisis = by_code["90839"]
    assert [(line.service_code, line.units) for line in crisis.lines] == [("90839", 1), ("90840", 1)]
    assert crisis.place_of_service == "02"
    assert crisis.amount.amount_minor == 22_000 + 9_000
    assert list(by_code["90832"].modifiers) == ["93"]


async def test_plan_entitlements_are_used_before_charging(billing: Billing) -> None:
    practice = await new_practice(billing)
    client = await practice.add_client()
    plan = (
        await billing.setup.CreatePlan(
            pb.CreatePlanRequest(
                plan=pb.Plan(
                    name="Messaging + 1 live", price=usd(31_600), messaging=True, live_sessions_per_period=1
                ),
                idempotency_key=new_id(),
            ),
            metadata=practice.admin,
        )
    ).plan
    await billing.accounts.Subscribe(
        pb.SubscribeRequest(plan_id=plan.plan_id, idempotency_key=new_id()), metadata=practice.client(client)
    )
    await billing.send(completed(practice, client), source=SCHEDULING)
    sessions = [c for c in await charges_of(billing, practice, client, 2) if c.kind == "session"]
    assert sessions[0].covered_by_plan
    assert sessions[0].amount.amount_minor == 0
    await billing.send(completed(practice, client), source=SCHEDULING)
    charges = await charges_of(billing, practice, client, 3)
    paid_sessions = [c for c in charges if c.kind == "session" and not c.covered_by_plan]
    assert len(paid_sessions) == 1
    assert paid_sessions[0].amount.amount_minor == 15_000
    assert (await account(billing, practice, client)).subscription.sessions_left == 0


async def test_bill_41_no_show_fee_only_with_agreement_and_never_for_federal_payers(billing: Billing) -> None:
    practice = await new_practice(billing)
    agreed, silent = await practice.add_client(), await practice.add_client()
    federal = await practice.add_client(identity_pb2.PAYER_TYPE_FEDERAL_PROGRAM)
    version = (
        await billing.setup.GetPriceList(pb.GetPriceListRequest(), metadata=practice.admin)
    ).price_list.version
    for client in (agreed, federal):
        await billing.setup.AcceptFeePolicy(
            pb.AcceptFeePolicyRequest(price_list_version=version, idempotency_key=new_id()),
            metadata=practice.client(client),
        )
    for client in (silent, federal, agreed):
        await billing.send(
            sched.SessionNoShow(
                appointment_id=new_id(),
                practice_id=practice.practice_id,
                clinician_id=practice.clinician_id,
                client_id=client,
                fee_applies=True,
                occurred_at=timestamp(datetime.now(UTC)),
            ),
            source=SCHEDULING,
        )
    (fee,) = await charges_of(billing, practice, agreed, 1)
    assert fee.kind == "no_show_fee"
    assert fee.amount.amount_minor == 5_000
    assert (
        await billing.scalar("SELECT count(*) FROM charges WHERE client_id IN (:a, :b)", a=silent, b=federal)
        == 0
    )


async def test_invoice_card_payment_is_charged_once_per_idempotency_key(billing: Billing) -> None:
    practice = await new_practice(billing)
    client = await practice.add_client()
    await billing.send(completed(practice, client), source=SCHEDULING)
    await charges_of(billing, practice, client, 1)
    today = datetime.now(UTC).date()
    invoice = (
        await billing.accounts.IssueInvoice(
            pb.IssueInvoiceRequest(
                client_id=client,
                period_start=time_pb2.LocalDate(year=today.year, month=today.month, day=1),
                period_end=time_pb2.LocalDate(year=today.year, month=today.month, day=today.day),
                idempotency_key=new_id(),
            ),
            metadata=practice.admin,
        )
    ).invoice
    assert invoice.total.amount_minor == 15_000
    before = billing.stripe.count("/v1/payment_intents")
    key = new_id()
    request = pb.PayInvoiceRequest(
        invoice_id=invoice.invoice_id, payment_method="pm_card_visa", idempotency_key=key
    )
    first = await billing.accounts.PayInvoice(request, metadata=practice.client(client))
    retry = await billing.accounts.PayInvoice(request, metadata=practice.client(client))
    assert retry.payment.payment_id == first.payment.payment_id
    assert billing.stripe.count("/v1/payment_intents") == before + 1
    sent = [k for _, path, k in billing.stripe.requests if path == "/v1/payment_intents"]
    assert sent[-1] == f"pay-{key}"  # the provider sees our key: its own retries cannot double-charge
    assert (
        await billing.scalar("SELECT count(*) FROM payments WHERE invoice_id = :i", i=invoice.invoice_id) == 1
    )


async def test_manual_payment_refund_and_superbill(billing: Billing) -> None:
    practice = await new_practice(billing)
    client = await practice.add_client()
    await billing.send(completed(practice, client, minutes=55), source=SCHEDULING)
    (charge,) = await charges_of(billing, practice, client, 1)
    await billing.accounts.SetDiagnosisCodes(
        pb.SetDiagnosisCodesRequest(
            charge_id=charge.charge_id, diagnosis_codes=["F41.1"], idempotency_key=new_id()
        ),
        metadata=practice.clinician,
    )
    day = charge.service_date
    invoice = (
        await billing.accounts.IssueInvoice(
            pb.IssueInvoiceRequest(
                client_id=client, period_start=day, period_end=day, idempotency_key=new_id()
            ),
            metadata=practice.admin,
        )
    ).invoice
    paid = await billing.accounts.RecordManualPayment(
        pb.RecordManualPaymentRequest(
            invoice_id=invoice.invoice_id, amount=usd(18_000), method="check", idempotency_key=new_id()
        ),
        metadata=practice.admin,
    )
    assert paid.invoice.status == "paid"
    refunded = await billing.accounts.RefundPayment(
        pb.RefundPaymentRequest(
            payment_id=paid.payment.payment_id, amount=usd(3_000), idempotency_key=new_id()
        ),
        metadata=practice.admin,
    )
    assert refunded.payment.refunded.amount_minor == 3_000
    with pytest.raises(grpc.aio.AioRpcError) as too_much:
        await billing.accounts.RefundPayment(
            pb.RefundPaymentRequest(
                payment_id=paid.payment.payment_id, amount=usd(16_000), idempotency_key=new_id()
            ),
            metadata=practice.admin,
        )
    assert too_much.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    superbill = await billing.accounts.GetSuperbill(
        pb.GetSuperbillRequest(
            from_date=day,
            to_date=day,
            client_name="Alex Example",
            client_date_of_birth=time_pb2.LocalDate(year=1990, month=4, day=2),
        ),
        metadata=practice.client(client),
    )
    assert superbill.total_charged.amount_minor == 18_000
    assert superbill.total_paid.amount_minor == 15_000
    with tempfile.TemporaryDirectory() as folder:
        pdf = Path(folder) / "superbill.pdf"
        pdf.write_bytes(superbill.pdf)
        extracted = await asyncio.create_subprocess_exec(
            "pdftotext", "-layout", str(pdf), "-", stdout=asyncio.subprocess.PIPE
        )
        stdout, _ = await extracted.communicate()
        assert extracted.returncode == 0
        text = stdout.decode()
    for expected in (
        "1987654321",
        "12-3456789",
        "90837",
        "F41.1",
        "Alex Example",
        "1990-04-02",
        day_text(day),
    ):
        assert expected in text, expected
    assert "POS" in text
    assert " 10 " in text or "\n10 " in text or " 10\n" in text


def day_text(day: time_pb2.LocalDate) -> str:
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


async def test_a_client_sees_only_their_own_account(billing: Billing) -> None:
    practice = await new_practice(billing)
    alice, bob = await practice.add_client(), await practice.add_client()
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await billing.accounts.GetAccount(
            pb.GetAccountRequest(client_id=bob), metadata=practice.client(alice)
        )
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as not_admin:
        await billing.setup.SetPriceList(
            pb.SetPriceListRequest(price_list=pb.PriceList(currency="USD"), idempotency_key=new_id()),
            metadata=practice.client(alice),
        )
    assert not_admin.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_clinician_reads_only_the_accounts_of_their_care_teams_clients(billing: Billing) -> None:
    """Charges carry diagnoses: a clinician of the practice who is not on the client's care team is
    refused, and one who was removed from it loses access (identity's care-team events)."""
    practice = await new_practice(billing)
    client = await practice.add_client()
    request = pb.GetAccountRequest(client_id=client)
    with pytest.raises(grpc.aio.AioRpcError) as stranger:
        await billing.accounts.GetAccount(request, metadata=practice.clinician)
    assert stranger.value.code() is grpc.StatusCode.PERMISSION_DENIED

    link = new_id()
    assigned = identity_events.CareTeamAssigned(
        client_id=client, practice_id=practice.practice_id, link_id=link, clinician_id=practice.clinician_id
    )
    await billing.send(assigned, source="//confide/identity")

    async def readable() -> bool:
        try:
            await billing.accounts.GetAccount(request, metadata=practice.clinician)
        except grpc.aio.AioRpcError:
            return False
        return True

    await eventually(readable)
    await billing.accounts.GetAccount(request, metadata=practice.admin)  # admins read any in the practice

    removed = identity_events.CareTeamRemoved(
        client_id=client, practice_id=practice.practice_id, link_id=link, clinician_id=practice.clinician_id
    )
    await billing.send(removed, source="//confide/identity")

    async def refused() -> bool:
        return not await readable()

    await eventually(refused)


async def test_bad_money_and_codes_are_invalid_argument(billing: Billing) -> None:
    practice = await new_practice(billing)
    bad_lists = [
        pb.PriceList(currency="usd", fees=[pb.Fee(service_code="90834", amount=usd(1))]),
        pb.PriceList(currency="USD", fees=[pb.Fee(service_code="9083", amount=usd(1))]),
        pb.PriceList(currency="USD", fees=[pb.Fee(service_code="90834", amount=usd(-5))]),
        pb.PriceList(currency="USD", fees=[]),
    ]
    for prices in bad_lists:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await billing.setup.SetPriceList(
                pb.SetPriceListRequest(price_list=prices, idempotency_key=new_id()), metadata=practice.admin
            )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_demo_seed_is_idempotent_and_prices_the_demo_practice(billing: Billing) -> None:
    from confide_billing.demo import DEMO_PRACTICE, seed_demo

    url = billing.engine.url.render_as_string(hide_password=False)
    first = await seed_demo(url)
    second = await seed_demo(url)
    assert first["changed"]
    assert second["changed"] == []
    assert (
        await billing.scalar("SELECT count(*) FROM price_lists WHERE practice_id = :p", p=DEMO_PRACTICE) == 1
    )
    assert await billing.scalar("SELECT count(*) FROM plans WHERE practice_id = :p", p=DEMO_PRACTICE) == 2


def test_make_run_finds_the_seed_command() -> None:
    """The dev stack seeds a service only if `python -m confide_billing` offers `seed-demo`."""
    from confide_billing.wiring import SPEC

    assert "seed-demo" in SPEC.commands


async def test_subscriptions_renew_without_rollover_and_cancellations_end_at_period_end(
    billing: Billing,
) -> None:
    from datetime import date

    from confide_billing.adapters.superbill_pdf import SuperbillPdf
    from confide_billing.app.accounts import AccountUseCases
    from confide_billing.app.context import AppContext
    from confide_billing.db.uow import unit_of_work_factory

    practice = await new_practice(billing)
    staying, leaving = await practice.add_client(), await practice.add_client()
    plan = (
        await billing.setup.CreatePlan(
            pb.CreatePlanRequest(
                plan=pb.Plan(
                    name="Messaging + 1", price=usd(31_600), messaging=True, live_sessions_per_period=1
                ),
                idempotency_key=new_id(),
            ),
            metadata=practice.admin,
        )
    ).plan
    for client in (staying, leaving):
        await billing.accounts.Subscribe(
            pb.SubscribeRequest(plan_id=plan.plan_id, idempotency_key=new_id()),
            metadata=practice.client(client),
        )
    await billing.accounts.CancelSubscription(
        pb.CancelSubscriptionRequest(idempotency_key=new_id()), metadata=practice.client(leaving)
    )
    await billing.send(completed(practice, staying), source=SCHEDULING)  # uses this period's session
    await charges_of(billing, practice, staying, 2)

    def accounts_on(day: date) -> AccountUseCases:
        return AccountUseCases(
            AppContext(
                uow=unit_of_work_factory(billing.running.context.require_sessions()),
                payments=None,
                superbills=SuperbillPdf(),
                clock=lambda: datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
            )
        )

    start = datetime.now(UTC).date()
    assert await accounts_on(start + timedelta(days=10)).renew_due_subscriptions() == 0  # nothing due yet
    await accounts_on(start + timedelta(days=31)).renew_due_subscriptions()

    kept = (await account(billing, practice, staying)).subscription
    assert kept.sessions_left == 1  # a fresh period: the used session did not roll over, nor was one added
    assert (kept.period_start.year, kept.period_start.month, kept.period_start.day) == (
        (start + timedelta(days=30)).year,
        (start + timedelta(days=30)).month,
        (start + timedelta(days=30)).day,
    )
    plan_charges = [c for c in (await account(billing, practice, staying)).charges if c.kind == "plan"]
    assert len(plan_charges) == 2  # the first period at subscription, the second at renewal
    assert not (await account(billing, practice, leaving)).HasField("subscription")  # ended at period end
    assert [c.kind for c in (await account(billing, practice, leaving)).charges] == ["plan"]


def freshness_count(flow: str) -> float:
    """Observations of billing's event-freshness histogram (the process-wide registry it exports)."""
    value = REGISTRY.get_sample_value(
        "confide_billing_event_freshness_seconds_count", {"service": "billing", "flow": flow}
    )
    return value or 0.0


def duplicates_seen(topic: str) -> float:
    """Records of `topic` billing's consumers recognised as already handled (redeliveries)."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "confide_consumer_records"
        for sample in family.samples
        if sample.name.endswith("_total")
        and sample.labels.get("service") == "billing"
        and sample.labels.get("topic") == topic
        and sample.labels.get("outcome") == "duplicate"
    )


async def test_freshness_is_observed_once_per_estimate_and_per_charge(billing: Billing) -> None:
    """The event-freshness SLOs (docs/observability.md) count each GFE and session charge billing
    commits, once, however often the source event is delivered."""
    flows = ("booking_to_gfe", "session_to_charge")
    topics = ("confide.scheduling.appointments.v1", "confide.scheduling.sessions.v1")
    before = {name: freshness_count(name) for name in flows}
    duplicates = {topic: duplicates_seen(topic) for topic in topics}
    practice = await new_practice(billing)
    client = await practice.add_client()
    booking = booked(practice, client, datetime.now(UTC) + timedelta(days=10))
    booking_id = await billing.send(booking, source=SCHEDULING)
    await billing.send(booking, source=SCHEDULING, event_id=booking_id)  # a redelivery
    session = completed(practice, client, minutes=45)
    session_id = await billing.send(session, source=SCHEDULING)
    await billing.send(session, source=SCHEDULING, event_id=session_id)

    async def redeliveries_handled() -> bool:
        return all(duplicates_seen(topic) > duplicates[topic] for topic in topics)

    await charges_of(billing, practice, client, 1)
    await eventually(redeliveries_handled)
    assert (await account(billing, practice, client)).estimates
    assert freshness_count("booking_to_gfe") == before["booking_to_gfe"] + 1
    assert freshness_count("session_to_charge") == before["session_to_charge"] + 1
    # Just published: inside the one-minute objective's bucket.
    fresh = REGISTRY.get_sample_value(
        "confide_billing_event_freshness_seconds_bucket",
        {"service": "billing", "flow": "session_to_charge", "le": "60.0"},
    )
    assert fresh is not None
    assert fresh >= 1
