"""The directory's domain counters: `service` first like every Confide metric; no PHI in labels (no
states, no ids)."""

from __future__ import annotations

from prometheus_client import Counter

from confide_chassis.metrics import bind_service

SEARCHES = bind_service(
    Counter(
        "confide_directory_searches_total",
        "Directory searches by care kind and outcome",
        ["service", "care_kind", "outcome"],
    ),
    "directory",
)
