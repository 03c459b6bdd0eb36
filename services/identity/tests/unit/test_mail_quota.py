"""IDN-AUTH-03: public requests in someone else's name cannot flood their inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from confide_identity.domain.mail_quota import MailQuota, may_send

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
QUOTA = MailQuota(max_per_window=3, window=timedelta(hours=1))


def test_idn_auth_03_mails_are_sent_until_the_quota_of_the_window_is_spent() -> None:
    sent: list[datetime] = []
    for minute in range(3):
        assert may_send(sent, now=NOW + timedelta(minutes=minute), quota=QUOTA)
        sent.append(NOW + timedelta(minutes=minute))
    assert not may_send(sent, now=NOW + timedelta(minutes=10), quota=QUOTA)


def test_idn_auth_03_the_window_rolls_mails_older_than_it_no_longer_count() -> None:
    sent = [NOW, NOW + timedelta(minutes=30), NOW + timedelta(minutes=40)]
    assert not may_send(sent, now=NOW + timedelta(minutes=59), quota=QUOTA)
    assert may_send(sent, now=NOW + timedelta(hours=1), quota=QUOTA)


def test_idn_auth_03_a_quota_needs_at_least_one_mail_and_a_window() -> None:
    with pytest.raises(ValueError, match="max_per_window"):
        MailQuota(max_per_window=0)
    with pytest.raises(ValueError, match="window"):
        MailQuota(window=timedelta(0))
