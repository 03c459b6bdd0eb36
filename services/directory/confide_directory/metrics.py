"""The directory's domain counters (no PHI in labels: no states, no ids)."""

from __future__ import annotations

from prometheus_client import Counter

SEARCHES = Counter(
    "confide_directory_searches_total",
    "Directory searches by care kind and outcome",
    ["care_kind", "outcome"],
)
