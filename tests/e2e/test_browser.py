"""The reference web client in headless Chromium (Debian's package, driven by playwright-core) against
the whole platform: a person signs in, finds a clinician for their state, books, checks in and writes
a message — the browser-facing API works end to end."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from .conftest import ROOT, Platform

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"


def _missing() -> list[str]:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium (apt-get install chromium; .ci/run installs it)")
    if not (ROOT / "web" / "dist" / "index.html").exists():
        missing.append("the web client (make web)")
    return missing


async def test_a_person_books_and_checks_in_from_the_browser(platform: Platform, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed to drive the browser"
    assert not _missing(), _missing()
    screenshot = tmp_path / "journey.png"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(ROOT / "tests" / "e2e" / "browser" / "journey.mjs"),
        str(screenshot),
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "NODE_PATH": str(ROOT / "node_modules"),
            "GATEWAY_URL": platform.gateway,
            "CHROMIUM": CHROMIUM,
            "EMAIL": "alex@demo-practice.test",
            "PASSWORD": "Tulip-Harbor-Lantern-42",
            "STATE": "CA",
            "HOME": str(tmp_path),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 240)
    lines = stdout.decode().strip().splitlines()
    assert lines, stderr.decode()[-2000:]
    report = json.loads(lines[-1])
    assert report["ok"], report
    steps = report["steps"]
    assert steps[0] == "signed in"
    assert steps[1].startswith("found ")
    assert steps[2] == "booked"
    assert steps[-1] == "message delivered on the live stream"
    assert screenshot.stat().st_size > 0
