"""Crisis language in client messages: a transparent rule set, not a model (SAFE-21, SAFE-24).

Messaging is not an emergency channel, so a client who writes about ending their life must get the
988 Suicide & Crisis Lifeline and 911 at once, and their care team must be alerted. The rules below
are deliberately simple so a clinician can read them, and each has a code that appears in the
RiskFlagged event (never the text).

How a message is read:

1. Lower-cased, curly quotes and apostrophes straightened, white space collapsed.
2. Quoted passages ("...") are ignored when the sentence attributes them to someone else (she said,
   my friend wrote) or to a song, film, book or quote; otherwise a quote is read like the rest (a
   client may quote their own thoughts).
3. Split into clauses at sentence ends, semicolons, commas, dashes and "but"/"although"/"though".
4. In each clause every phrase of every rule is searched. A hit is discarded when
   - a negation cue (never, not, no longer, don't, won't, wouldn't, ...) stands within the three
     words before the phrase: "I would never kill myself";
   - the clause is about the distant past: "used to", "years ago", "when I was a teen",
     "in high school", "back in 2019" (recent past still counts: "last night I tried to...").
5. Phrases are first person by construction ("kill myself", "I want to die"), so "my friend wants
   to kill herself" does not match; that is a conversation for the clinician, not a client alert.

Any remaining hit is a crisis: false positives cost a resource card and an alert, false negatives
can cost a life, so the phrases err on the side of matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class RiskSignal(Enum):
    SUICIDE = "suicide"
    SELF_HARM = "self_harm"
    HARM_TO_OTHERS = "harm_to_others"


@dataclass(frozen=True, slots=True)
class CrisisRule:
    code: str
    signal: RiskSignal
    phrases: tuple[re.Pattern[str], ...]


def _rule(code: str, signal: RiskSignal, *phrases: str) -> CrisisRule:
    return CrisisRule(code, signal, tuple(re.compile(rf"\b(?:{p})\b") for p in phrases))


RULES: tuple[CrisisRule, ...] = (
    _rule(
        "MSG-CRISIS-SUICIDE-INTENT",
        RiskSignal.SUICIDE,
        r"(?:kill|killing|hang|hanging|shoot|shooting|unalive|unaliving) myself",
        r"end(?:ing)? (?:my (?:own )?life|it all)",
        r"take (?:my (?:own )?life)",
        r"commit(?:ting)? suicide",
        r"suicide (?:plan|note|attempt)",
        r"(?:want|wanna|going|gonna|plan|planning|ready) to die",
        r"wish (?:i (?:was|were) dead|i could die|i wasn'?t alive)",
        r"better off dead",
        r"(?:don'?t|do not) want to (?:live|be alive|be here anymore|wake up)",
        r"no reason to (?:live|go on)",
        r"(?:life is )?not worth living",
        r"(?:i'?m|i am|feel|feeling|been) (?:so |really |very )?suicidal",
        r"(?:thinking|thoughts?|thought) (?:about|of) (?:suicide|killing myself|ending my life|ending it)",
        r"(?:took|take|taking|swallowed) (?:an overdose|all (?:of )?my (?:pills|meds|medication))",
        r"tried to (?:kill myself|end my life|end it)",
        r"kms",
    ),
    _rule(
        "MSG-CRISIS-SELF-HARM",
        RiskSignal.SELF_HARM,
        r"(?:cut|cutting|burn|burning|hurt|hurting|harm|harming) myself",
        r"self[- ]?harm(?:ing)?",
    ),
    _rule(
        "MSG-CRISIS-HARM-OTHERS",
        RiskSignal.HARM_TO_OTHERS,
        r"(?:i'?m going to|i am going to|i'?ll|i will|i want to|i'?m gonna) (?:kill|shoot|stab) "
        r"(?:him|her|them|someone|somebody|people|everyone|my \w+)",
    ),
)

# Rule ids of docs/rules.md behind the response (messaging is not an emergency channel; 988/911).
RULE_IDS: tuple[str, ...] = ("SAFE-21", "SAFE-24")

_NEGATION = re.compile(
    r"\b(?:never|not|no longer|no|don'?t|do not|won'?t|will not|wouldn'?t|would not|isn'?t|"
    r"aren'?t|am not|nor|neither)\b"
)
_DISTANT_PAST = re.compile(
    r"\b(?:used to|years ago|a long time ago|long ago|when i was (?:a |younger|little|\d)|"
    r"as a (?:kid|child|teen|teenager)|in (?:high school|middle school|college)|back in (?:19|20)\d\d|"
    r"in the past|months ago)\b"
)
_CLAUSE_SPLIT = re.compile(r"[.!?;,\n]+|\s+[-\u2013\u2014]+\s+|\b(?:but|although|though|however)\b")
_QUOTED = re.compile(r"\"([^\"]*)\"")
_REPORTED = re.compile(
    r"\b(?:he|she|they|someone|somebody|my (?:\w+ )?(?:friend|mom|mother|dad|father|sister|brother|"
    r"partner|boss|teacher|son|daughter|husband|wife|client)|the (?:character|singer|narrator))\s+"
    r"(?:said|says|wrote|writes|told|texted|posted|asked|sang|sings|yelled)\b"
    r"|\b(?:song|lyrics?|movie|film|book|novel|poem|quote|quoting|show|episode)\b"
)


@dataclass(frozen=True, slots=True)
class CrisisAssessment:
    signals: frozenset[RiskSignal]
    rule_codes: tuple[str, ...]

    @property
    def is_crisis(self) -> bool:
        return bool(self.rule_codes)


NO_CRISIS = CrisisAssessment(frozenset(), ())


_STRAIGHTEN: dict[int, str | int | None] = {0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"'}


def normalize(text: str) -> str:
    text = text.lower()
    text = text.translate(_STRAIGHTEN)
    return re.sub(r"\s+", " ", text).strip()


def _without_reported_quotes(text: str) -> str:
    """Drop quoted passages the sentence attributes to someone or something else."""
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        outside = _QUOTED.sub(" ", sentence)
        out.append(outside if _REPORTED.search(outside) else sentence.replace('"', " "))
    return " ".join(out)


def _negated(clause: str, start: int) -> bool:
    before = clause[:start].split()[-3:]
    return _NEGATION.search(" ".join(before)) is not None


def assess(text: str) -> CrisisAssessment:
    """Which crisis rules a client's message matches (NO_CRISIS when none)."""
    cleaned = _without_reported_quotes(normalize(text))
    codes: list[str] = []
    signals: set[RiskSignal] = set()
    for clause in _CLAUSE_SPLIT.split(cleaned):
        clause = clause.strip()
        if not clause or _DISTANT_PAST.search(clause):
            continue
        for rule in RULES:
            if rule.code in codes:
                continue
            for phrase in rule.phrases:
                match = phrase.search(clause)
                if match is not None and not _negated(clause, match.start()):
                    codes.append(rule.code)
                    signals.add(rule.signal)
                    break
    if not codes:
        return NO_CRISIS
    return CrisisAssessment(frozenset(signals), tuple(codes))


# --- what the client gets ---------------------------------------------------------------------------


class ResourceChannel(Enum):
    CALL = "call"
    TEXT = "text"
    CHAT = "chat"


@dataclass(frozen=True, slots=True)
class CrisisResource:
    code: str
    name: str
    channel: ResourceChannel
    contact: str
    instruction: str


def crisis_resources(home_state: str | None) -> tuple[CrisisResource, ...]:
    """SAFE-24: 988 by call, text and chat; and emergency services where the client is. Every US state
    and territory answers 911; `home_state` (the client's recorded location) is named when known."""
    where = f" in {home_state}" if home_state else ""
    return (
        CrisisResource(
            "988_call", "988 Suicide & Crisis Lifeline", ResourceChannel.CALL, "988",
            "Call 988, any time, free and confidential. Veterans press 1.",
        ),
        CrisisResource(
            "988_text", "988 Suicide & Crisis Lifeline", ResourceChannel.TEXT, "988",
            "Text 988 to reach a trained crisis counselor.",
        ),
        CrisisResource(
            "988_chat", "988 Lifeline Chat", ResourceChannel.CHAT, "https://988lifeline.org/chat",
            "Chat online with a crisis counselor.",
        ),
        CrisisResource(
            "emergency_911", f"Emergency services{where}", ResourceChannel.CALL, "911",
            "If you are in immediate danger or may act on these thoughts, call 911 now.",
        ),
    )  # fmt: skip


def crisis_message_text(resources: tuple[CrisisResource, ...]) -> str:
    """The system message posted in the thread (fixed text: nothing from the client's message)."""
    lines = [
        "This chat is not monitored for emergencies. Your care team has been alerted.",
        "If you are thinking about ending your life or hurting yourself, please reach out now:",
    ]
    lines += [f"- {r.name}: {r.instruction} ({r.contact})" for r in resources]
    return "\n".join(lines)
