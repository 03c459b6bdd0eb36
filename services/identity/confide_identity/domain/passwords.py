"""Password policy in the style of NIST SP 800-63B (§5.1.1.2 memorized secrets).

- Length is the rule: at least `min_length` (default 12) and at most `max_length` (default 128) characters,
  counted as Unicode code points after NFKC normalisation. Spaces and every printable character are
  allowed.
- No composition rules (no "one digit, one symbol"), no periodic expiry, no hints.
- Reject secrets that appear in a list of commonly used/breached passwords (including simple variations:
  case, leetspeak, digits or symbols stuck on the ends), secrets made only of repeated or sequential
  characters ("aaaa...", "1234abcd", "qwertyuiop"), and context-specific words (the e-mail local part, the
  person's names, the service name).

All problems are reported at once as field violations on the password field; the messages never echo the
password or the context words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Final

from confide_chassis.errors import FieldViolation, InvalidArgument

ABSOLUTE_MIN_LENGTH: Final = 8
"""NIST 800-63B floor; a practice may only configure a stricter minimum."""
ABSOLUTE_MAX_LENGTH: Final = 128
"""Upper bound on what we hash (argon2 cost and request size)."""
DEFAULT_MIN_LENGTH: Final = 12
CONTEXT_WORD_MIN_LENGTH: Final = 3
"""Context words shorter than this are not searched for inside passwords (too many false positives)."""
SERVICE_WORDS: Final = ("confide",)

_SEQUENCES: Final = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "!@#$%^&*()",
)
_LEET: Final = str.maketrans(
    {"@": "a", "4": "a", "8": "b", "(": "c", "3": "e", "6": "g", "1": "i", "!": "i", "|": "l", "0": "o"}
    | {"$": "s", "5": "s", "7": "t", "+": "t", "2": "z"}
)
_EDGE_NOISE: Final = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_WORD_SPLIT: Final = re.compile(r"[\W_]+")
_MIN_RUN: Final = 3


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int = DEFAULT_MIN_LENGTH
    max_length: int = ABSOLUTE_MAX_LENGTH

    def __post_init__(self) -> None:
        if not ABSOLUTE_MIN_LENGTH <= self.min_length <= self.max_length <= ABSOLUTE_MAX_LENGTH:
            raise ValueError(
                f"password policy needs {ABSOLUTE_MIN_LENGTH} <= min_length <= max_length "
                f"<= {ABSOLUTE_MAX_LENGTH}"
            )
        if self.max_length < 64:
            raise ValueError("NIST 800-63B: allow passwords of at least 64 characters")


@dataclass(frozen=True, slots=True)
class PasswordContext:
    """Context-specific words a password must not contain: the account's e-mail and names."""

    email: str = ""
    names: tuple[str, ...] = ()
    extra_words: tuple[str, ...] = field(default=SERVICE_WORDS)

    def words(self) -> frozenset[str]:
        found: set[str] = set()
        local_part = self.email.rsplit("@", 1)[0] if self.email else ""
        candidates: list[str] = [local_part, *self.names, *self.extra_words]
        for candidate in candidates:
            folded = candidate.casefold().strip()
            if not folded:
                continue
            found.add(folded)
            found.add(re.sub(r"[\W_]+", "", folded))
            found.update(part for part in _WORD_SPLIT.split(folded) if part)
        return frozenset(word for word in found if len(word) >= CONTEXT_WORD_MIN_LENGTH)


def normalize_password(password: str) -> str:
    """NFKC normalisation (NIST 800-63B §5.1.1.2) applied before checking and before hashing."""
    return unicodedata.normalize("NFKC", password)


def _is_simple_run(chunk: str) -> bool:
    if len(set(chunk)) == 1:
        return True
    return any(chunk in sequence or chunk in sequence[::-1] for sequence in _SEQUENCES)


def is_repetitive_or_sequential(password: str) -> bool:
    """True when the whole password is a repeated unit ("abcabc...") or is built only from runs of
    at least three repeated or sequential characters ("aaaa1234", "qwerty123456", "zyxwvu")."""
    folded = password.casefold()
    if not folded:
        return True
    # a repeated unit: "abab...", "Summer!Summer!"
    if folded in (folded + folded)[1:-1]:
        return True
    index = 0
    while index < len(folded):
        end = index + 1
        best = index
        while end <= len(folded):
            if _is_simple_run(folded[index:end]):
                best = end
            end += 1
        if best - index < _MIN_RUN:
            return False
        index = best
    return True


def _common_candidates(folded: str) -> set[str]:
    stripped = _EDGE_NOISE.sub("", folded)
    candidates = {folded, stripped, folded.translate(_LEET), stripped.translate(_LEET)}
    candidates |= {_EDGE_NOISE.sub("", candidate) for candidate in list(candidates)}
    candidates |= {candidate.replace(" ", "") for candidate in list(candidates)}
    return {candidate for candidate in candidates if candidate}


def is_common_password(password: str, common_passwords: Container[str]) -> bool:
    """True when the password, or its core after undoing case, leetspeak and edge digits/symbols, is in
    `common_passwords` (a container of casefolded entries, e.g. the bundled list or a breach corpus)."""
    folded = password.casefold()
    return any(candidate in common_passwords for candidate in _common_candidates(folded))


def _contains_context_word(password: str, words: Iterable[str]) -> bool:
    folded = password.casefold()
    squashed = re.sub(r"[\W_]+", "", folded)
    unleet = folded.translate(_LEET)
    return any(word in folded or word in squashed or word in unleet for word in words)


def password_violations(
    password: str,
    *,
    policy: PasswordPolicy,
    common_passwords: Container[str],
    context: PasswordContext,
    field_path: str = "password",
) -> tuple[FieldViolation, ...]:
    """Every reason `password` is unacceptable (empty when it is fine)."""
    normalized = normalize_password(password)
    problems: list[str] = []
    length = len(normalized)
    if length < policy.min_length:
        problems.append(f"must be at least {policy.min_length} characters long")
    if length > policy.max_length:
        problems.append(f"must be at most {policy.max_length} characters long")
    if any(unicodedata.category(char) == "Cc" for char in normalized):
        problems.append("must not contain control characters")
    if normalized and length <= policy.max_length:
        if is_common_password(normalized, common_passwords):
            problems.append("is too common or appears in known breaches; choose another")
        if is_repetitive_or_sequential(normalized):
            problems.append("must not consist of repeated or sequential characters")
        if _contains_context_word(normalized, context.words()):
            problems.append("must not contain your e-mail address, your name or the service name")
    return tuple(FieldViolation(field_path, problem) for problem in problems)


def check_password(
    password: str,
    *,
    policy: PasswordPolicy,
    common_passwords: Container[str],
    context: PasswordContext,
    field_path: str = "password",
) -> None:
    """Raise `InvalidArgument` listing every violation, or return None when the password is acceptable."""
    violations = password_violations(
        password,
        policy=policy,
        common_passwords=common_passwords,
        context=context,
        field_path=field_path,
    )
    if violations:
        raise InvalidArgument(violations, message="the password does not meet the password policy")


def parse_common_passwords(lines: Iterable[str]) -> frozenset[str]:
    """Entries of a common-password list file: one per line, '#' comments and blank lines ignored."""
    return frozenset(
        normalize_password(line.strip()).casefold()
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    )
