"""Confide compliance service: licensure authorization, credential registry and the audit trail.

The pure rules live in `confide_compliance.domain`; the versioned reference data (compact membership,
state exception rules, age-of-consent table) lives in `confide_compliance.reference_data`.
"""
