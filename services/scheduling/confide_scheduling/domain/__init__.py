"""The pure domain of the scheduling service: no gRPC, database, Kafka or clock reads.

Time is always a parameter (``now``, tz-aware UTC). Errors are ``confide_chassis.errors`` classes citing
rule ids (``rules``). Modules:

- ``timekit``: UTC ranges, IANA zones, DST-safe local→UTC conversion.
- ``catalog``: modalities, weekdays, session types.
- ``availability``: weekly rules, date exceptions, time off, ``generate_slots``.
- ``appointments``: the appointment state machine, holds, booking, authorization flags.
- ``recurrence``: weekly/biweekly series (RRULE), exceptions, splits, conflicts.
- ``policy``: cancellation / no-show outcomes and fees (BILL-41).
- ``waitlist``: entries, FIFO matching of freed slots, expiring offers.
- ``reminders``: due reminders with dedupe keys, no PHI (MSG-03).
- ``screening``: PHQ-9, GAD-7, C-SSRS screener and triage (SAFE-20..24).
- ``checkin``: check-in window, location and identity, authorization re-check, session start.
- ``billing_facts``: completion facts, POS (BILL-11) and modifiers (BILL-12).
"""
