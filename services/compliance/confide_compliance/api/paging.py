"""Opaque page tokens (AIP-158): a keyset position bound to the request's filters, so a token reused
with other filters is INVALID_ARGUMENT instead of silently returning the wrong page."""

from __future__ import annotations

import base64
import hashlib
import json

from confide.common.v1 import paging_pb2
from confide_chassis.errors import InvalidArgument
from confide_compliance.app.ports import Page

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def page_of(request: paging_pb2.PageRequest, *filters: object, field: str = "page") -> Page:
    if request.page_size < 0:
        raise InvalidArgument.field(f"{field}.page_size", "must not be negative")
    size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not request.page_token:
        return Page(size=size)
    try:
        padded = request.page_token + "=" * (-len(request.page_token) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after, fingerprint = int(doc["a"]), str(doc["f"])
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument.field(f"{field}.page_token", "not a token this method issued") from None
    if fingerprint != _fingerprint(*filters) or after < 0:
        raise InvalidArgument.field(f"{field}.page_token", "issued for other request parameters")
    return Page(size=size, after=after)


def next_page(next_after: int | None, *filters: object) -> paging_pb2.PageResponse:
    if next_after is None:
        return paging_pb2.PageResponse()
    doc = json.dumps({"a": next_after, "f": _fingerprint(*filters)}, separators=(",", ":"))
    token = base64.urlsafe_b64encode(doc.encode()).decode().rstrip("=")
    return paging_pb2.PageResponse(next_page_token=token)
