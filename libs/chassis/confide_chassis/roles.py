"""Role names as they appear in access tokens' `roles` claim, shared by every service.

They mirror `confide.common.v1.Role` (protos/confide/common/v1/access.proto): the token string is
the enum member's name without `ROLE_`, in lower case. `role_name` converts, so the two cannot drift.
"""

from __future__ import annotations

from typing import Final

from confide.common.v1 import access_pb2

CLIENT: Final = "client"
CLINICIAN: Final = "clinician"
PRACTICE_ADMIN: Final = "practice_admin"
COMPLIANCE_OFFICER: Final = "compliance_officer"
PLATFORM_OPERATOR: Final = "platform_operator"

EVERY_ROLE: Final = frozenset({CLIENT, CLINICIAN, PRACTICE_ADMIN, COMPLIANCE_OFFICER, PLATFORM_OPERATOR})
STAFF: Final = frozenset({CLINICIAN, PRACTICE_ADMIN, COMPLIANCE_OFFICER, PLATFORM_OPERATOR})

_PREFIX = "ROLE_"


def role_name(value: int) -> str:
    """`ROLE_PRACTICE_ADMIN` → "practice_admin"; ValueError for UNSPECIFIED or an unknown number."""
    if value == access_pb2.ROLE_UNSPECIFIED:
        raise ValueError("ROLE_UNSPECIFIED names no role")
    return access_pb2.Role.Name(value).removeprefix(_PREFIX).lower()  # type: ignore[arg-type]
