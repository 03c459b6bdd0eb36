"""The caller of an RPC as the use cases see it."""

from __future__ import annotations

from typing import Any

import grpc

from confide_chassis.auth import current_principal
from confide_chassis.errors import Unauthenticated
from confide_chassis.grpc.interceptor import bearer_token
from confide_scheduling.app.context import Caller

Context = grpc.aio.ServicerContext[Any, Any]


def caller_of(context: Context) -> Caller:
    """The verified principal (the interceptor checked the token) and the raw token, which is forwarded
    to compliance so that it authorizes and audits the real user."""
    principal = current_principal()
    token = bearer_token(context.invocation_metadata())
    if token is None:
        raise Unauthenticated("a valid access token is required")
    return Caller(principal, token)
