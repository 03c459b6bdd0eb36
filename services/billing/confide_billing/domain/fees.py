"""Late-cancellation and no-show fees (BILL-41): only when disclosed and agreed in advance, only
under the practice's uniform policy, and never for payers that forbid them."""

from __future__ import annotations

from dataclasses import dataclass

from confide_billing.domain.coding import PayerProfile
from confide_billing.domain.money import Money


@dataclass(frozen=True, slots=True)
class FeeDecision:
    fee: Money | None
    reason: str  # why no fee, for the audit trail and the admin's view


def missed_appointment_fee(
    policy_fee: Money | None, *, client_agreed: bool, payer: PayerProfile, scheduling_says_fee_applies: bool
) -> FeeDecision:
    if not scheduling_says_fee_applies:
        return FeeDecision(None, "outside the practice's late-cancel window or excused")
    if policy_fee is None or policy_fee.amount_minor <= 0:
        return FeeDecision(None, "the practice charges no such fee")
    if payer.forbids_missed_appointment_fees:
        return FeeDecision(None, "BILL-41: the client's payer forbids missed-appointment fees")
    if not client_agreed:
        return FeeDecision(None, "BILL-41: the client has not agreed to the fee policy")
    return FeeDecision(policy_fee, "fee policy agreed")
