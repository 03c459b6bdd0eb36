"""Contract of the Jitsi Meet adapter: the room token is what Prosody's token authentication
(shared-secret HS256) accepts, and nothing in the link identifies a person or an appointment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import jwt
import pytest

from confide_scheduling.adapters.jitsi import JITSI_AUDIENCE, ROOM_NAME, JitsiRoomLinks
from confide_scheduling.app.ports import new_room_name

SECRET = "0123456789abcdef0123456789abcdef-jitsi"
DOMAIN = "meet.example.org"
APP_ID = "confide-app"
USER = "0193a3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"


def _links() -> JitsiRoomLinks:
    return JitsiRoomLinks(domain=DOMAIN, app_id=APP_ID, app_secret=SECRET)


def test_room_names_are_unguessable_and_free_of_phi() -> None:
    names = {new_room_name() for _ in range(1000)}
    assert len(names) == 1000
    for name in list(names)[:20]:
        assert ROOM_NAME.match(name)
        assert re.fullmatch(r"confide-[0-9a-f]{32}", name)  # 128 random bits, nothing else


def test_token_has_the_claims_jitsi_token_auth_checks() -> None:
    room = new_room_name()
    now = datetime.now(UTC).replace(microsecond=0)
    link = _links().join_link(
        room=room,
        user_id=USER,
        moderator=True,
        not_before=now - timedelta(minutes=5),
        expires_at=now + timedelta(hours=1),
    )
    url = urlparse(link.url)
    assert url.scheme == "https"
    assert url.netloc == DOMAIN
    assert url.path == f"/{room}"
    token = parse_qs(url.query)["jwt"][0]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=JITSI_AUDIENCE, issuer=APP_ID)
    assert claims["aud"] == "jitsi"
    assert claims["iss"] == APP_ID
    assert claims["sub"] == DOMAIN
    assert claims["room"] == room  # one room, never "*"
    assert claims["exp"] == int((now + timedelta(hours=1)).timestamp())
    assert claims["nbf"] == int((now - timedelta(minutes=5)).timestamp())
    assert claims["context"] == {"user": {"id": USER, "moderator": True}}  # an id only: no name, no e-mail
    assert link.moderator is True
    assert link.expires_at == now + timedelta(hours=1)


def test_a_token_signed_with_another_secret_or_for_another_room_is_rejected() -> None:
    room = new_room_name()
    now = datetime.now(UTC)
    token = _links().token(
        room=room, user_id=USER, moderator=False, not_before=now, expires_at=now + timedelta(minutes=30)
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-0123456789abcdef-0123", algorithms=["HS256"], audience="jitsi")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="jitsi")
    assert claims["room"] != new_room_name()
    assert claims["context"]["user"]["moderator"] is False


def test_expired_links_do_not_verify() -> None:
    now = datetime.now(UTC)
    token = _links().token(
        room=new_room_name(),
        user_id=USER,
        moderator=False,
        not_before=now - timedelta(hours=2),
        expires_at=now - timedelta(hours=1),
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"], audience="jitsi")


def test_configuration_and_room_names_are_validated() -> None:
    with pytest.raises(ValueError, match="secret"):
        JitsiRoomLinks(domain=DOMAIN, app_id=APP_ID, app_secret="short")
    with pytest.raises(ValueError, match="room"):
        _links().token(
            room="therapy-with-jane-doe",
            user_id=USER,
            moderator=False,
            not_before=datetime.now(UTC),
            expires_at=datetime.now(UTC) + timedelta(minutes=5),
        )
