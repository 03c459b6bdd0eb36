"""SAFE-21/SAFE-24: the crisis rule set on client messages — what it must catch, and what it must not.

False negatives can cost a life and false positives cost a resource card and an alert, so the
positive list is long; each negative documents a context the rules handle on purpose."""

from __future__ import annotations

import pytest

from confide_messaging.domain.crisis import RiskSignal, assess, crisis_message_text, crisis_resources

CRISIS = [
    "I want to kill myself",
    "I don't want to live anymore",
    "i dont want to wake up tomorrow",
    "I've been thinking about ending my life",
    "Honestly I'd be better off dead.",
    "I took all my pills an hour ago",
    "Last night I tried to kill myself",
    "I\u2019m so suicidal today",  # curly apostrophe
    "I can't stop thinking about killing myself",
    "I'm not okay. I want to die.",
    "I'm not suicidal anymore, but tonight I want to end it all",
    "I wrote a suicide note",
    'I keep thinking "I want to die" over and over',  # the client quoting their own thoughts
    "There is no reason to live",
    "KMS",
]

SELF_HARM = ["I started cutting myself again", "I've been self-harming this week"]

HARM_TO_OTHERS = ["I'm going to kill my boss tomorrow"]

NOT_CRISIS = [
    "I would never kill myself",  # negation
    "I'm not suicidal, just tired",  # negation
    "I'm not going to kill myself, I promise",  # negation
    "I used to want to kill myself, but therapy helped",  # distant past
    "Years ago I tried to kill myself",  # distant past
    "When I was a teen I wanted to die",  # distant past
    'My friend said "I want to die" after the exam',  # someone else's words
    'The song lyrics "I want to die" are stuck in my head',  # quoting a song
    "My sister is thinking about killing herself",  # third person (for the clinician, not an alert)
    "This homework is killing me",  # idiom
    "I'm dying to see the new movie",  # idiom
    "Can we move our session to Thursday?",
    "",
]


@pytest.mark.parametrize("text", CRISIS)
def test_safe_24_suicidal_language_is_a_crisis(text: str) -> None:
    assessment = assess(text)
    assert assessment.is_crisis
    assert RiskSignal.SUICIDE in assessment.signals
    assert "MSG-CRISIS-SUICIDE-INTENT" in assessment.rule_codes


@pytest.mark.parametrize("text", SELF_HARM)
def test_safe_24_self_harm_is_a_crisis(text: str) -> None:
    assert assess(text).signals == {RiskSignal.SELF_HARM}


@pytest.mark.parametrize("text", HARM_TO_OTHERS)
def test_safe_24_intent_to_harm_others_is_a_crisis(text: str) -> None:
    assert assess(text).signals == {RiskSignal.HARM_TO_OTHERS}


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_safe_24_negated_past_quoted_or_third_person_language_is_not_a_crisis(text: str) -> None:
    assessment = assess(text)
    assert not assessment.is_crisis, assessment.rule_codes


def test_a_message_with_several_signals_names_each_rule_once() -> None:
    assessment = assess("I want to kill myself. I keep cutting myself. I want to kill myself.")
    assert assessment.rule_codes == ("MSG-CRISIS-SUICIDE-INTENT", "MSG-CRISIS-SELF-HARM")


def test_safe_24_resources_are_988_by_call_text_and_chat_and_911_where_the_client_is() -> None:
    resources = crisis_resources("CO")
    assert [(r.code, r.contact) for r in resources] == [
        ("988_call", "988"),
        ("988_text", "988"),
        ("988_chat", "https://988lifeline.org/chat"),
        ("emergency_911", "911"),
    ]
    assert "CO" in resources[-1].name
    assert "in " not in crisis_resources(None)[-1].name


def test_safe_21_the_system_message_says_the_channel_is_not_monitored_and_lists_each_resource() -> None:
    text = crisis_message_text(crisis_resources("NY"))
    assert "not monitored for emergencies" in text
    assert "988" in text
    assert "911" in text
