"""Demo data never reaches production: seed-demo refuses without dev mode."""

from __future__ import annotations

import pytest

from confide_directory.demo import DEMO_PROFILES, seed_demo_command
from confide_directory.domain.profiles import validate_content
from confide_directory.reference_data import load_vocabulary
from confide_directory.settings import DirectorySettings


def test_seed_demo_is_refused_without_dev_mode(capsys: pytest.CaptureFixture[str]) -> None:
    code = seed_demo_command(DirectorySettings(dev_mode=False, database_url="postgresql+asyncpg://x/y"), [])
    assert code == 2
    assert "DIRECTORY_DEV_MODE" in capsys.readouterr().err


def test_demo_profiles_are_valid_and_the_coach_says_so() -> None:
    vocabulary = load_vocabulary()
    for _, content in DEMO_PROFILES:
        assert validate_content(content, vocabulary) == content
    coaches = [c for _, c in DEMO_PROFILES if c.is_coach]
    assert len(coaches) == 1
    assert "not therapy" in coaches[0].bio
