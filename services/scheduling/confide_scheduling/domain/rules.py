"""Rule ids cited in errors, events and tests.

Ids of the form ``LIC-``/``SAFE-``/``BILL-``/``MSG-`` come from ``docs/rules.md``.
``SCHED-`` ids are this service's own booking-policy rules (not legal facts); they exist so that every
FailedPrecondition carries a stable, machine-readable id the frontend can switch on.
"""

from __future__ import annotations

from typing import Final

# docs/rules.md
LIC_01: Final = "LIC-01"  # session happens where the client is located
LIC_03: Final = "LIC-03"  # an authority must be valid for (clinician, client state, modality, date)
LIC_04: Final = "LIC-04"  # record the client's current physical location at the start of every session
SAFE_01: Final = "SAFE-01"  # verify the client's identity at each contact
SAFE_02: Final = "SAFE-02"  # capture the client's current physical location at session start
SAFE_10: Final = "SAFE-10"  # telehealth informed consent obtained and documented before care
SAFE_12: Final = "SAFE-12"  # consent specific to telehealth and to each modality
SAFE_20: Final = "SAFE-20"  # suitability for telehealth
SAFE_21: Final = "SAFE-21"  # not for urgent crisis
SAFE_22: Final = "SAFE-22"  # PHQ-9 item 9 >= 1 -> structured risk assessment
SAFE_23: Final = "SAFE-23"  # C-SSRS screener triage
SAFE_24: Final = "SAFE-24"  # 988 and the derived crisis-routing rule set
BILL_11: Final = "BILL-11"  # POS from per-session location (home 10, elsewhere 02)
BILL_12: Final = "BILL-12"  # modifiers 95 (audio+video) / 93 (audio-only)
BILL_41: Final = "BILL-41"  # missed-appointment fees
MSG_03: Final = "MSG-03"  # notifications carry no clinical content

# Service-local booking policy
SCHED_TRANSITION: Final = "SCHED-01"  # appointment state machine: transition not allowed
SCHED_HOLD_EXPIRED: Final = "SCHED-02"  # a hold can be confirmed only before it expires
SCHED_MIN_NOTICE: Final = "SCHED-03"  # bookings respect the minimum notice / are in the future
SCHED_CHECKIN_WINDOW: Final = "SCHED-04"  # check-in only inside the check-in window
SCHED_NO_SHOW_GRACE: Final = "SCHED-05"  # no-show only after the grace period without check-in
SCHED_OFFER: Final = "SCHED-06"  # waitlist offer state / expiry
SCHED_UNAVAILABLE: Final = "SCHED-07"  # the requested time is not in the clinician's availability
SCHED_PROFILE_UNKNOWN: Final = "SCHED-08"  # the client's profile (home state, time zone) is not known yet
SCHED_VIDEO_LINK: Final = "SCHED-09"  # join links: video appointments, participants, inside the window
SCHED_OPEN_LIMIT: Final = "SCHED-10"  # a client keeps a bounded number of open holds / waitlist entries
SCHED_SCHEDULE_OWNER: Final = "SCHED-11"  # a clinician sets up their own schedule before admins manage it
