"""Versioned reference data (YAML with an ``as_of`` date), loaded at start.

``session_types.yaml`` is the default session-type catalogue; practices may override it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

import yaml

from confide_chassis.errors import NotFound
from confide_scheduling.domain.catalog import Modality, SessionKind, SessionType

__all__ = ["SessionTypeCatalogue", "load_session_types", "parse_session_types"]


@dataclass(frozen=True, slots=True)
class SessionTypeCatalogue:
    as_of: date
    session_types: tuple[SessionType, ...]

    def __post_init__(self) -> None:
        codes = [t.code for t in self.session_types]
        if len(codes) != len(set(codes)):
            raise ValueError("session type codes must be unique")

    def get(self, code: str) -> SessionType:
        for session_type in self.session_types:
            if session_type.code == code:
                return session_type
        raise NotFound("unknown session type", metadata={"session_type": code})


def parse_session_types(text: str) -> SessionTypeCatalogue:
    data: dict[str, Any] = yaml.safe_load(text)
    as_of = data["as_of"]
    if not isinstance(as_of, date):
        raise ValueError("as_of must be a YAML date")
    return SessionTypeCatalogue(
        as_of=as_of,
        session_types=tuple(
            SessionType(
                code=str(item["code"]),
                kind=SessionKind(item["kind"]),
                duration=timedelta(minutes=int(item["duration_minutes"])),
                buffer=timedelta(minutes=int(item.get("buffer_minutes", 0))),
                modalities=frozenset(Modality(m) for m in item["modalities"]),
            )
            for item in data["session_types"]
        ),
    )


def load_session_types() -> SessionTypeCatalogue:
    """The packaged default catalogue."""
    text = resources.files(__package__).joinpath("session_types.yaml").read_text(encoding="utf-8")
    return parse_session_types(text)
