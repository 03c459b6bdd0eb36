#!/usr/bin/env python3
"""Run buf (pinned in package.json, installed by `npm ci`) on the protos/ module, offline.

  scripts/buf.py lint       buf lint (STANDARD rules, see buf.yaml)
  scripts/buf.py breaking   buf breaking (FILE rules) against a git baseline:
                            - on a branch other than main: against `.git#branch=main`
                              (or origin/main when there is no local main);
                            - on main, at main's tip, or with no main to compare to: against the
                              parent commit `.git#ref=HEAD~1`.
                            Skipped, with a message and exit 0, when that baseline does not exist
                            (first commit, shallow clone) or has no protobuf module yet.

Exits non-zero when buf reports violations or cannot run.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUF = ROOT / "node_modules" / ".bin" / "buf"
MAIN = "main"


class BufError(Exception):
    """A problem the user must fix; printed without a traceback."""


def say(message: str) -> None:
    """This script's report on stdout (a CLI, so printing is its job)."""
    print(f"buf.py: {message}", flush=True)  # noqa: T201


def git(*args: str) -> str | None:
    """Output of a git command run at the repository root, or None if it failed."""
    try:
        result = subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607 - git from PATH, like every developer and CI machine
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def commit_of(rev: str) -> str | None:
    return git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")


def run_buf(*args: str) -> int:
    if not BUF.exists():
        raise BufError(f"{BUF.relative_to(ROOT)} is missing: run `npm ci` (or `make proto`)")
    say("$ buf " + " ".join(args))
    return subprocess.run([str(BUF), *args], cwd=ROOT, check=False).returncode  # noqa: S603


@dataclass(frozen=True)
class Baseline:
    against: str  # a buf input, e.g. ".git#branch=main"
    commit: str  # the commit it resolves to
    label: str  # for messages


def git_input() -> str:
    """The repository as a buf git input: `.git`, or the common git dir of a worktree."""
    common = git("rev-parse", "--path-format=absolute", "--git-common-dir")
    if common is None:
        raise BufError("cannot locate the git directory")
    path = Path(common)
    return ".git" if path == ROOT / ".git" else str(path)


def choose_baseline() -> Baseline | str:
    """The baseline to compare against, or the reason there is none."""
    if git("rev-parse", "--is-inside-work-tree") != "true":
        return "not a git work tree"
    head = commit_of("HEAD")
    if head is None:
        return "no commit yet"
    repo = git_input()
    branch = git("symbolic-ref", "--quiet", "--short", "HEAD")  # None when HEAD is detached

    if branch != MAIN:
        main = commit_of(f"refs/heads/{MAIN}")
        origin_main = commit_of(f"refs/remotes/origin/{MAIN}")
        if main is not None and main != head:
            return Baseline(f"{repo}#branch={MAIN}", main, f"branch {MAIN}")
        if main is None and origin_main is not None and origin_main != head:
            return Baseline(f"{repo}#ref={origin_main}", origin_main, f"origin/{MAIN}")
        if main is None and origin_main is None:
            say(f"no local or origin branch {MAIN}: comparing against the parent commit instead")
        # Otherwise HEAD is main's tip (e.g. CI checked out main detached): judge its last commit.

    parent = commit_of("HEAD~1")
    if parent is None:
        if git("rev-parse", "--is-shallow-repository") == "true":
            return "the parent commit is not available in this shallow clone (fetch more history)"
        return "HEAD has no parent commit"
    return Baseline(f"{repo}#ref={parent}", parent, f"parent commit HEAD~1 ({parent[:12]})")


def has_module(commit: str) -> bool:
    """Whether the commit already has the buf module: buf.yaml and at least one .proto in protos/."""
    if git("cat-file", "-e", f"{commit}:buf.yaml") is None:
        return False
    listing = git("ls-tree", "-r", "--name-only", commit, "--", "protos")
    if not listing:
        return False
    return any(line.endswith(".proto") for line in listing.splitlines())


def breaking() -> int:
    baseline = choose_baseline()
    if isinstance(baseline, str):
        say(f"SKIPPED buf breaking: {baseline}; nothing to compare against")
        return 0
    if not has_module(baseline.commit):
        say(
            f"SKIPPED buf breaking: {baseline.label} has no protobuf module yet (buf.yaml, protos/**/*.proto)"
        )
        return 0
    say(f"checking protos/ for breaking changes against {baseline.label}")
    rc = run_buf("breaking", "--against", baseline.against)
    if rc == 0:
        say(f"buf breaking: no breaking changes against {baseline.label}")
    else:
        say(f"buf breaking: FAILED against {baseline.label} (exit {rc}); see docs/adr/0002 for the policy")
    return rc


def lint() -> int:
    rc = run_buf("lint")
    say("buf lint: clean" if rc == 0 else f"buf lint: FAILED (exit {rc})")
    return rc


def main(argv: list[str]) -> int:
    commands = {"lint": lint, "breaking": breaking}
    if len(argv) != 1 or argv[0] not in commands:
        sys.stderr.write(__doc__ or "")
        return 2
    try:
        return commands[argv[0]]()
    except BufError as exc:
        sys.stderr.write(f"buf.py: error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
