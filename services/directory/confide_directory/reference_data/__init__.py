"""Loading the packaged vocabulary (validated once at start: the service refuses invalid data)."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import yaml

from confide_directory.domain.vocabulary import Vocabulary


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    text = path.read_text() if path else resources.files(__package__).joinpath("vocabulary.yaml").read_text()
    document = yaml.safe_load(text)
    if not isinstance(document.get("as_of"), date):
        raise ValueError("vocabulary.yaml: as_of must be a date")
    sections: dict[str, dict[str, str]] = {}
    for name in ("specialties", "approaches", "populations"):
        terms = document.get(name)
        if not isinstance(terms, dict) or not terms:
            raise ValueError(f"vocabulary.yaml: {name} must be a non-empty mapping")
        for code, label in terms.items():
            if not (
                isinstance(code, str) and code.isidentifier() and code.islower() and isinstance(label, str)
            ):
                raise ValueError(f"vocabulary.yaml: bad term {code!r} in {name}")
        sections[name] = dict(terms)
    return Vocabulary(
        version=str(document["version"]),
        specialties=sections["specialties"],
        approaches=sections["approaches"],
        populations=sections["populations"],
    )
