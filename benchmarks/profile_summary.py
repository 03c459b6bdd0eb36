"""Summarize py-spy's collapsed stacks (`py-spy record --format raw`) as a short text report.

    .venv/bin/python -m benchmarks.profile_summary PROFILE.raw [--top 30] > summary.txt

Frames are grouped by function and file (line numbers dropped). "inclusive" is the share of samples
with the function anywhere on the stack, "self" the share with it on top: the first says which path
the time is spent under, the second which code actually burns it.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def _frame(raw: str) -> str:
    return _LINE.sub(")", raw.strip())


def summarize(text: str, top: int) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        for name in set(frames):
            inclusive[name] += samples
        if frames:
            own[frames[-1]] += samples
    if not total:
        return "no samples\n"
    out = [f"{total} samples", "", f"top {top} by self time (% of samples)"]
    out += [f"{100 * n / total:6.1f}%  {name}" for name, n in own.most_common(top)]
    out += ["", f"top {top} by inclusive time (% of samples)"]
    out += [f"{100 * n / total:6.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    arguments = parser.parse_args()
    sys.stdout.write(summarize(arguments.profile.read_text(encoding="utf-8"), arguments.top))
