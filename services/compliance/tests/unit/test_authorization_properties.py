"""Property tests of the authorization engine (LIC-03: never allow without a valid authority)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confide_compliance.domain import (
    AuthorityKind,
    AuthorizationRequest,
    ClinicianCredentials,
    CompactAuthority,
    CompactAuthorityKind,
    CompactId,
    CredentialStatus,
    Decision,
    Encumbrance,
    EncumbranceKind,
    LicenseLevel,
    Modality,
    Outcome,
    Profession,
    SocialWorkCategory,
    StateException,
    StateLicense,
    Usage,
    UsageKey,
    decide,
    find_authorized,
    normalize_jurisdiction,
)
from confide_compliance.domain.authorization import TAP_DAYS_PER_STATE_PER_YEAR
from confide_compliance.reference_data import load_reference_data
from confide_compliance.testing import (
    CLINICIAN,
    authority,
    credentials,
    exception_,
    license_,
    request,
)

REF = load_reference_data()
BASE = date(2026, 3, 10)
# PSYPACT, Counseling (live / enacted), NLC, exception states, non-members, and junk.
STATES = ["TX", "CO", "GA", "AZ", "MN", "FL", "CA", "NY", "MT", "WY", "OK"]
CLIENT_STATES = [*STATES, "XX", "ca", ""]
PROFESSIONS = [
    Profession.PSYCHOLOGIST,
    Profession.PROFESSIONAL_COUNSELOR,
    Profession.REGISTERED_NURSE,
    Profession.PSYCHIATRIC_NURSE_PRACTITIONER,
    Profession.CLINICAL_SOCIAL_WORKER,
]
RULES = ["CA-BPC-2912", "FL-491.014-4-d", "FL-456.47", "MT-PSYCH-NONRESIDENT", "NO-SUCH-RULE"]
RULE_STATE = {"CA-BPC-2912": "CA", "FL-491.014-4-d": "FL", "FL-456.47": "FL", "MT-PSYCH-NONRESIDENT": "MT"}

PSYPACT_STATES = ["TX", "CO", "GA", "AZ", "OK", "WY", "FL"]
NLC_STATES = ["TX", "FL", "AZ", "CO", "GA"]
NON_ACTIVE = [s for s in CredentialStatus if s is not CredentialStatus.ACTIVE]
KINDS = ["license", "apit", "tap", "privilege", "nlc", "exception", "social_work"]
MUTATIONS = [
    "status",
    "expire",
    "not_yet",
    "unverify",
    "encumber",
    "associate",
    "drop",
    "supervisee",
    "modality",
    "client",
    "clinician_at",
    "profession",
    "new_client",
    "usage",
    "unapprove",
    "day",
]

Credential = StateLicense | CompactAuthority | StateException
Scenario = tuple[ClinicianCredentials, AuthorizationRequest, Usage]


def _expire(c: Credential, when: date) -> Credential:
    if isinstance(c, StateException):
        return replace(c, valid_from=min(c.valid_from, when), valid_until=when)
    return replace(c, issued_on=min(c.issued_on, when), expires_on=when)


def _not_yet(c: Credential, when: date) -> Credential:
    if isinstance(c, StateException):
        until = c.valid_until if c.valid_until is None or c.valid_until >= when else when
        return replace(c, valid_from=when, valid_until=until)
    if isinstance(c, StateLicense):
        return replace(c, issued_on=when, expires_on=max(c.expires_on, when))
    return replace(c, issued_on=when, expires_on=None if c.expires_on is None else max(c.expires_on, when))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A valid configuration for one kind of authority, then 0-2 random mutations, so that both
    sides of every boundary are explored."""
    kind = draw(st.sampled_from(KINDS))
    day = BASE + timedelta(days=draw(st.integers(-20, 20)))

    def future() -> date:
        return day + timedelta(days=draw(st.one_of(st.integers(0, 2), st.integers(0, 400))))

    def past() -> date:
        return day - timedelta(days=draw(st.one_of(st.integers(0, 2), st.integers(0, 400))))

    def two_states(states: list[str]) -> tuple[str, str]:
        first = draw(st.sampled_from(states))
        return first, draw(st.sampled_from([x for x in states if x != first]))

    creds: dict[str, Credential] = {}
    profession: Profession | str = Profession.PSYCHOLOGIST
    modality: Modality | str = draw(st.sampled_from([m for m in Modality if m.is_telehealth]))
    existing_client = True
    usage: dict[UsageKey, frozenset[date]] = {}
    if kind == "license":
        profession = draw(st.sampled_from(PROFESSIONS))
        client = draw(st.sampled_from(STATES))
        clinician_at = draw(st.one_of(st.just(client), st.sampled_from(STATES)))
        creds["lic-0"] = license_("lic-0", client, profession, issued_on=past(), expires_on=future())
    elif kind == "apit":
        clinician_at, client = two_states(PSYPACT_STATES)
        creds["lic-0"] = license_("lic-0", clinician_at, issued_on=past(), expires_on=future())
        creds["ep"] = authority(
            "ep", CompactAuthorityKind.PSYPACT_E_PASSPORT, issued_on=past(), expires_on=future()
        )
        creds["apit"] = authority(
            "apit",
            CompactAuthorityKind.PSYPACT_APIT,
            prerequisite_id="ep",
            issued_on=past(),
            expires_on=future(),
        )
    elif kind == "tap":
        home, client = two_states(PSYPACT_STATES)
        clinician_at, modality = client, Modality.IN_PERSON
        creds["lic-0"] = license_("lic-0", home, issued_on=past(), expires_on=future())
        creds["ipc"] = authority(
            "ipc", CompactAuthorityKind.PSYPACT_IPC, issued_on=past(), expires_on=future()
        )
        creds["tap"] = authority(
            "tap",
            CompactAuthorityKind.PSYPACT_TAP,
            prerequisite_id="ipc",
            issued_on=past(),
            expires_on=future(),
        )
        used = draw(st.integers(0, 31))
        usage[UsageKey("tap", client, day.year)] = frozenset(
            date(day.year, 1, 1) + timedelta(days=i) for i in range(used)
        )
    elif kind == "privilege":
        profession = Profession.PROFESSIONAL_COUNSELOR
        clinician_at, client = two_states(["AZ", "MN"])
        day = draw(st.sampled_from([date(2025, 9, 29), date(2025, 9, 30), date(2025, 10, 15), day]))
        creds["lic-0"] = license_(
            "lic-0", clinician_at, profession, issued_on=date(2020, 1, 1), expires_on=future()
        )
        creds["priv"] = authority(
            "priv",
            CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
            jurisdiction=client,
            home_license_id="lic-0",
            issued_on=date(2025, 9, 1),
            expires_on=None,
        )
    elif kind == "nlc":
        profession = draw(
            st.sampled_from([Profession.REGISTERED_NURSE, Profession.PSYCHIATRIC_NURSE_PRACTITIONER])
        )
        clinician_at, client = two_states(NLC_STATES)
        creds["lic-0"] = license_(
            "lic-0", clinician_at, Profession.REGISTERED_NURSE, issued_on=past(), expires_on=future()
        )
        creds["nlc"] = authority(
            "nlc",
            CompactAuthorityKind.NLC_MULTISTATE_LICENSE,
            jurisdiction=clinician_at,
            issued_on=past(),
            expires_on=future(),
        )
    elif kind == "exception":
        rule_id = draw(st.sampled_from(RULES[:-1]))
        rule = REF.exception_rule(rule_id)
        assert rule is not None
        profession = draw(st.sampled_from(sorted(rule.professions)))
        client = rule.jurisdiction
        clinician_at = draw(st.sampled_from(["TX", "GA", "WY"]))
        day = max(day, rule.effective_on)
        creds["lic-0"] = license_("lic-0", clinician_at, profession, issued_on=past(), expires_on=future())
        creds["exc"] = exception_(
            "exc",
            client,
            rule_id,
            "lic-0",
            valid_from=past(),
            approved_on=past(),
            notice_filed_on=None if draw(st.booleans()) else past(),
        )
        if isinstance(modality, Modality) and rule.exclusion_for(modality):
            modality = Modality.VIDEO
        used = draw(st.integers(0, 35))
        first = date(day.year, 1, 1) + timedelta(days=draw(st.integers(0, 40)))
        usage[UsageKey("exc", client, day.year)] = frozenset(
            d for d in (first + timedelta(days=i) for i in range(used)) if d.year == day.year
        )
    else:  # social work: never usable (LIC-31)
        profession = Profession.CLINICAL_SOCIAL_WORKER
        clinician_at, client = two_states(STATES)
        creds["sw"] = authority(
            "sw",
            CompactAuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE,
            jurisdiction=clinician_at,
            category=SocialWorkCategory.CLINICAL,
        )
    if modality is Modality.IN_PERSON:
        clinician_at = client
    is_supervisee = False

    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
        ids = sorted(creds)
        target = draw(st.sampled_from(ids)) if ids else None
        c = creds.get(target) if target else None
        if mutation == "status" and c is not None and target is not None:
            creds[target] = replace(c, status=draw(st.sampled_from(NON_ACTIVE)))
        elif mutation == "expire" and c is not None and target is not None:
            creds[target] = _expire(c, day - timedelta(days=draw(st.integers(1, 3))))
        elif mutation == "not_yet" and c is not None and target is not None:
            creds[target] = _not_yet(c, day + timedelta(days=draw(st.integers(1, 3))))
        elif mutation == "unverify" and c is not None and target is not None:
            creds[target] = replace(c, verification=None)
        elif mutation == "encumber" and isinstance(c, StateLicense) and target is not None:
            start = day - timedelta(days=draw(st.integers(0, 900)))
            end = None if draw(st.booleans()) else start + timedelta(days=draw(st.integers(0, 400)))
            creds[target] = replace(
                c, restrictions=(Encumbrance(draw(st.sampled_from(list(EncumbranceKind))), start, end),)
            )
        elif mutation == "associate" and isinstance(c, StateLicense) and target is not None:
            creds[target] = replace(c, level=LicenseLevel.ASSOCIATE)
        elif mutation == "drop" and target is not None:
            del creds[target]
        elif mutation == "supervisee":
            is_supervisee = True
        elif mutation == "modality":
            modality = draw(st.sampled_from([*Modality, "fax"]))
        elif mutation == "client":
            client = draw(st.sampled_from(CLIENT_STATES))
        elif mutation == "clinician_at":
            clinician_at = draw(st.sampled_from([*STATES, "ZZ"]))
        elif mutation == "profession":
            profession = draw(st.sampled_from([*PROFESSIONS, "astrologer"]))
        elif mutation == "new_client":
            existing_client = False
        elif mutation == "usage":
            for key in list(usage):
                usage[key] = usage[key] | frozenset(
                    date(key.year, 1, 1) + timedelta(days=i) for i in range(60)
                )
        elif mutation == "unapprove" and isinstance(c, StateException) and target is not None:
            creds[target] = replace(c, approval_reference=None, approved_on=None)
        elif mutation == "day":
            day = day + timedelta(days=draw(st.sampled_from([-400, -30, 30, 400])))
            usage = {}

    clinician = credentials(*creds.values(), is_supervisee=rarely(draw, 20))
    req = request(
        client,
        clinician_at,
        profession=profession,
        modality=modality,
        on=day,
        existing_client=existing_client,
        is_supervisee=is_supervisee,
    )
    return clinician, req, Usage(usage)


def rarely(draw: st.DrawFn, one_in: int) -> bool:
    return draw(st.integers(0, one_in - 1)) == 0


# -- an independent statement of what "a valid authority" means ---------------------------------------


def _good_license(lic: StateLicense, day: date, profession: Profession) -> bool:
    return (
        lic.profession is profession
        and lic.status is CredentialStatus.ACTIVE
        and lic.issued_on <= day <= lic.expires_on
        and not any(e.applies_on(day) for e in lic.restrictions)
        and lic.level is LicenseLevel.INDEPENDENT
        and lic.verification is not None
    )


def _valid(a: CompactAuthority | None, day: date) -> bool:
    return (
        a is not None
        and a.status is CredentialStatus.ACTIVE
        and a.issued_on <= day
        and (a.expires_on is None or day <= a.expires_on)
    )


def assert_names_a_valid_authority(decision: Decision, creds: ClinicianCredentials, usage: Usage) -> None:
    req = decision.request
    assert decision.authority is not None
    day = req.session_date
    client = normalize_jurisdiction(req.client_jurisdiction)
    clinician_at = normalize_jurisdiction(req.clinician_jurisdiction)
    profession = Profession.parse(req.profession)
    modality = Modality.parse(req.modality)
    assert client, "allowed an unknown client jurisdiction"
    assert clinician_at, "allowed an unknown clinician jurisdiction"
    assert profession, "allowed an unknown profession"
    assert modality, "allowed an unknown modality"
    if modality is Modality.IN_PERSON:
        assert clinician_at == client
    kind, ident = decision.authority.kind, decision.authority.id
    psypact = REF.compact(CompactId.PSYPACT)
    supervisee = req.is_supervisee or creds.is_supervisee
    if kind is AuthorityKind.STATE_LICENSE:
        lic = creds.license(ident)
        assert lic is not None
        assert lic.jurisdiction == client
        assert _good_license(lic, day, profession)
    elif kind is AuthorityKind.PSYPACT_APIT:
        apit = creds.authority(ident)
        assert apit is not None
        assert _valid(apit, day)
        assert _valid(creds.authority(apit.prerequisite_id), day)
        assert profession is Profession.PSYCHOLOGIST
        assert modality is not Modality.IN_PERSON
        assert not supervisee
        assert client != clinician_at
        assert psypact.effective_member(client, day)
        assert psypact.effective_member(clinician_at, day)
        assert any(
            lic.jurisdiction == clinician_at and _good_license(lic, day, profession) for lic in creds.licenses
        )
    elif kind is AuthorityKind.PSYPACT_TAP:
        tap = creds.authority(ident)
        assert tap is not None
        assert _valid(tap, day)
        assert _valid(creds.authority(tap.prerequisite_id), day)
        assert profession is Profession.PSYCHOLOGIST
        assert modality is Modality.IN_PERSON
        assert not supervisee
        assert psypact.effective_member(client, day)
        used = usage.used(UsageKey(ident, client, day.year)) | {day}
        assert len(used) <= TAP_DAYS_PER_STATE_PER_YEAR
    elif kind is AuthorityKind.COUNSELING_COMPACT_PRIVILEGE:
        priv = creds.authority(ident)
        assert priv is not None
        assert priv.jurisdiction == client
        assert _valid(priv, day)
        assert REF.compact(CompactId.COUNSELING).live_member(client, day)
        home = creds.license(priv.home_license_id)
        assert home is not None
        assert _good_license(home, day, Profession.PROFESSIONAL_COUNSELOR)
    elif kind is AuthorityKind.NLC_MULTISTATE_LICENSE:
        nlc = creds.authority(ident)
        assert nlc is not None
        assert _valid(nlc, day)
        assert profession in (Profession.REGISTERED_NURSE, Profession.LICENSED_PRACTICAL_NURSE)
        assert REF.compact(CompactId.NLC).effective_member(client, day)
    elif kind is AuthorityKind.STATE_EXCEPTION:
        exc = next(e for e in creds.exceptions if e.id == ident)
        rule = REF.exception_rule(exc.rule_id)
        assert rule is not None
        assert exc.jurisdiction == client == rule.jurisdiction
        assert exc.status is CredentialStatus.ACTIVE
        assert exc.in_term_on(day)
        assert rule.effective_on <= day
        assert profession in rule.professions
        assert rule.exclusion_for(modality) is None
        assert not rule.existing_client_required or req.existing_client
        assert not rule.prior_approval_required or exc.approved_by(day)
        home = creds.license(exc.home_license_id)
        assert home is not None
        assert home.jurisdiction != client
        assert _good_license(home, day, profession)
        if rule.day_limit is not None:
            used = usage.used(UsageKey(ident, client, day.year)) | {day}
            assert len(used) <= rule.day_limit.max_days
    else:  # the Social Work compact is not issuing (LIC-31)
        raise AssertionError(f"unexpected authority {kind}")


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenario=scenarios())
def test_lic_03_never_allows_without_naming_a_valid_authority(scenario: Scenario) -> None:
    creds, req, usage = scenario
    decision = decide(req, creds, REF, usage)
    assert decision.allowed == (decision.authority is not None)
    if decision.authority is not None:
        assert_names_a_valid_authority(decision, creds, usage)
        used = [r for r in decision.reasons if r.credential_id == decision.authority.id]
        assert used
        assert all(r.outcome is not Outcome.FAILED for r in used)
    else:
        assert decision.failed_rule_ids, decision.explanation
        assert decision.usage_key is None


@SETTINGS
@given(scenario=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_decisions_are_deterministic_and_ignore_input_order(scenario: Scenario, seed: int) -> None:
    creds, req, usage = scenario
    first = decide(req, creds, REF, usage)
    again = decide(req, creds, REF, usage)
    items = list(creds.all())
    random.Random(seed).shuffle(items)
    shuffled = ClinicianCredentials.of(CLINICIAN, items, is_supervisee=creds.is_supervisee)
    reordered = decide(req, shuffled, REF, usage)
    assert first == again == reordered
    assert first.explanation == reordered.explanation
    assert [r.rule_id for r in first.reasons] == [r.rule_id for r in reordered.reasons]


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios())
def test_unknown_client_location_always_fails_closed(scenario: Scenario) -> None:
    creds, req, _ = scenario
    unknown = AuthorizationRequest(
        clinician_id=req.clinician_id,
        profession=req.profession,
        client_jurisdiction="XX",
        clinician_jurisdiction=req.clinician_jurisdiction,
        session_start=req.session_start,
        session_date=req.session_date,
        modality=req.modality,
    )
    decision = decide(unknown, creds, REF)
    assert not decision.allowed
    assert "LIC-01" in decision.failed_rule_ids


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios())
def test_lic_14_supervisee_never_practises_under_psypact(scenario: Scenario) -> None:
    creds, req, usage = scenario
    supervised = AuthorizationRequest(
        clinician_id=req.clinician_id,
        profession=req.profession,
        client_jurisdiction=req.client_jurisdiction,
        clinician_jurisdiction=req.clinician_jurisdiction,
        session_start=req.session_start,
        session_date=req.session_date,
        modality=req.modality,
        existing_client=req.existing_client,
        is_supervisee=True,
    )
    decision = decide(supervised, creds, REF, usage)
    assert decision.authority is None or decision.authority.kind not in (
        AuthorityKind.PSYPACT_APIT,
        AuthorityKind.PSYPACT_TAP,
        AuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
    )


@settings(max_examples=60, deadline=None)
@given(population=st.lists(scenarios(), min_size=0, max_size=4), target=scenarios())
def test_find_authorized_agrees_with_decide(population: list[Scenario], target: Scenario) -> None:
    req = target[1]
    # Give each generated clinician its own id.
    renamed = []
    for n, (creds, _, _) in enumerate(population):
        cid = f"clin-{n}"
        items = [_with_clinician(c, cid) for c in creds.all()]
        renamed.append(
            ClinicianCredentials.of(cid, items, is_supervisee=creds.is_supervisee, practice_jurisdiction="TX")
        )
    found = find_authorized(
        renamed, req.client_jurisdiction, req.session_start, req.session_date, req.modality, REF
    )
    assert [f.clinician_id for f in found] == sorted(f.clinician_id for f in found)
    for f in found:
        assert f.decision.allowed
        assert f.decision.authority == f.authority
        assert f.decision.request.client_jurisdiction == req.client_jurisdiction


def _with_clinician(
    credential: object, clinician_id: str
) -> StateLicense | CompactAuthority | StateException:
    assert isinstance(credential, StateLicense | CompactAuthority | StateException)
    return replace(credential, clinician_id=clinician_id)
