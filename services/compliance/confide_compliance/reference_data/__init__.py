"""Versioned reference data files and their loader.

The YAML files beside this module are the data, plus the platform's shared age-of-consent table
(`confide_chassis/reference_data/age_of_consent.yaml`, one copy for every service);
`confide_compliance.domain.reference` is the pure parser. `load_reference_data()` reads the packaged
files (or a directory given by the caller, e.g. a mounted ConfigMap holding all four) and returns a
validated `ReferenceData` whose `version` decisions record.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from confide_chassis import age_of_consent
from confide_compliance.domain.reference import FILES, ReferenceData, parse_reference_data


def read_documents(directory: Path | None = None) -> dict[str, str]:
    """The text of every reference data file, from `directory` or from this package."""
    if directory is not None:
        return {
            name: (directory / name).read_text(encoding="utf-8")
            for name in FILES
            if (directory / name).exists()
        }
    package = resources.files(__name__)
    return {
        name: age_of_consent.document_text()
        if name == age_of_consent.DOCUMENT
        else package.joinpath(name).read_text(encoding="utf-8")
        for name in FILES
    }


def load_reference_data(directory: Path | None = None) -> ReferenceData:
    """Load and validate the reference data; raises `ReferenceDataError` listing every problem."""
    return parse_reference_data(read_documents(directory))
