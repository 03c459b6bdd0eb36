"""The AttachmentStore contract and the metadata check (attachments are metadata with a content
hash; the bytes stay in object storage)."""

from __future__ import annotations

import hashlib

from confide_messaging.adapters.object_store import InMemoryAttachmentStore
from confide_messaging.domain.threads import Attachment, attachment_mismatches

CONTENT = b"%PDF-1.7 worksheet"
SHA = hashlib.sha256(CONTENT).hexdigest()


async def test_a_stored_object_reports_its_sha256_size_and_type() -> None:
    store = InMemoryAttachmentStore()
    store.put("uploads/a", CONTENT, "application/pdf")
    stored = await store.stat("uploads/a")
    assert stored is not None
    assert (stored.sha256, stored.size_bytes, stored.media_type) == (SHA, len(CONTENT), "application/pdf")


async def test_an_unknown_object_is_none() -> None:
    assert await InMemoryAttachmentStore().stat("uploads/missing") is None


def test_metadata_must_describe_the_stored_object() -> None:
    claimed = Attachment("uploads/a", SHA, len(CONTENT), "application/pdf")
    assert attachment_mismatches(claimed, SHA, len(CONTENT)) == []
    assert attachment_mismatches(claimed, "0" * 64, len(CONTENT)) == ["sha256"]
    assert attachment_mismatches(claimed, SHA, 1) == ["size_bytes"]
    assert attachment_mismatches(claimed, None, None) == ["object_key"]
