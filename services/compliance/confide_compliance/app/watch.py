"""The expiry watch: once a day-ish, for every clinician of every practice, send the license notices
that are due (LicenseExpiring at 90/60/30 days, LicenseExpired, LicenseSuspended) and announce
coverage that changed because of dates (a license lapsed or started, a compact state went live):
AuthorizationChanged.

Exactly once: every notice has a dedupe key (`domain.watch.due_notices`; coverage changes use
`coverage:<clinician>:<day>:<before>><after>`) claimed in the same transaction that stages the
event in the outbox, so a crash, a rerun or a second replica never sends it twice.

One active runner: a run first takes a cluster-wide PostgreSQL advisory lock; a replica that does
not get it skips the run (the dedupe keys would make a concurrent run harmless, the lock makes it
cheap). Each clinician is handled in its own short transaction, under the clinician's row lock, so
registry changes and the watch never interleave on one clinician.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import date

from confide_chassis.events import OutgoingEvent
from confide_chassis.logging import get_logger
from confide_compliance import metrics
from confide_compliance.app import events
from confide_compliance.app.common import announce_coverage, clinician_credentials
from confide_compliance.app.context import AppContext
from confide_compliance.domain.watch import Milestone, due_notices

log = get_logger(__name__)

WATCH_LOCK = "compliance.expiry-watch"
BATCH = 200


@dataclass(slots=True)
class WatchReport:
    today: date
    ran: bool = True  # False: another runner held the lock
    clinicians: int = 0
    notices_sent: int = 0
    authorization_changes: int = 0
    by_milestone: dict[str, int] = field(default_factory=dict)


class ExpiryWatch:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def run_once(self, today: date | None = None) -> WatchReport:
        day = today or self._ctx.today()
        runner = self._ctx.runner
        if runner is None:
            raise RuntimeError("the expiry watch needs a single-runner lock")
        async with runner.exclusive(WATCH_LOCK) as acquired:
            if not acquired:
                log.info("expiry watch skipped: another replica is running it")
                metrics.expiry_watch_runs_total.labels("skipped").inc()
                return WatchReport(day, ran=False)
            report = WatchReport(day)
            after: str | None = None
            while True:
                async with self._ctx.uow() as uow:
                    ids = await uow.clinicians.ids_after(after, BATCH)
                if not ids:
                    break
                for clinician_id in ids:
                    await self._clinician(clinician_id, day, report)
                after = ids[-1]
            metrics.expiry_watch_runs_total.labels("ran").inc()
            metrics.expiry_watch_last_success.set_to_current_time()
            for milestone, count in report.by_milestone.items():
                metrics.license_notices_total.labels(milestone).inc(count)
            metrics.authorization_changes_total.labels("watch").inc(report.authorization_changes)
            log.info(
                "expiry watch done",
                clinicians=report.clinicians,
                notices=report.notices_sent,
                authorization_changes=report.authorization_changes,
            )
            return report

    async def _clinician(self, clinician_id: str, today: date, report: WatchReport) -> None:
        now = self._ctx.now()
        async with self._ctx.uow() as uow:
            clinician = await uow.clinicians.get(clinician_id, practice_id=None, for_update=True)
            if clinician is None:
                return
            report.clinicians += 1
            items = await uow.credentials.of_clinician(clinician_id)
            credentials = clinician_credentials(clinician_id, clinician, items)
            since = {r.credential_id: r.credential.status_since for r in items}
            rule_ids: set[str] = {"LIC-03"}
            for notice in due_notices(credentials, today):
                event = events.notice_event(notice, now=now, status_since=since.get(notice.credential_id))
                outgoing = OutgoingEvent.from_message(event)
                if await uow.notices.claim(
                    notice.dedupe_key,
                    practice_id=clinician.practice_id,
                    clinician_id=clinician_id,
                    credential_id=notice.credential_id,
                    milestone=notice.milestone.value,
                    event_id=outgoing.event_id,
                    sent_at=now,
                ):
                    uow.publish(outgoing)
                    report.notices_sent += 1
                    report.by_milestone[notice.milestone.value] = (
                        report.by_milestone.get(notice.milestone.value, 0) + 1
                    )
                if notice.milestone in (Milestone.EXPIRED, Milestone.SUSPENDED, Milestone.REVOKED):
                    rule_ids.add(notice.rule_id)
            if await announce_coverage(
                uow,
                self._ctx,
                clinician,
                credentials,
                today=today,
                before=None,
                rule_ids=sorted(rule_ids),
                dedupe=True,
            ):
                report.authorization_changes += 1
            await uow.commit()

    async def run_forever(self, stop: asyncio.Event, *, interval: float, initial_delay: float) -> None:
        """The background job: run, then sleep `interval` seconds, until `stop` is set."""
        wait = initial_delay
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            if stop.is_set():
                return
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed run is retried at the next interval, never fatal
                metrics.expiry_watch_runs_total.labels("failed").inc()
                log.error("expiry watch run failed", error=type(exc).__name__, exc_info=exc)
            wait = interval
