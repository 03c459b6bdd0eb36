"""Attachment storage behind the `AttachmentStore` port.

Uploads go from the client to object storage (a pre-signed URL issued by the gateway or a storage
service); messaging only checks that the metadata a message carries describes the stored object.
No object-storage provider is wired yet: `InMemoryAttachmentStore` stands in for one in tests and
must pass `tests/unit/test_attachment_store_contract.py`, as a real adapter (S3 HEAD with the
SHA-256 checksum) must before it replaces it.
"""

from __future__ import annotations

import hashlib

from confide_messaging.app.ports import StoredObject


class InMemoryAttachmentStore:
    def __init__(self) -> None:
        self._objects: dict[str, StoredObject] = {}

    def put(self, object_key: str, content: bytes, media_type: str) -> StoredObject:
        stored = StoredObject(hashlib.sha256(content).hexdigest(), len(content), media_type)
        self._objects[object_key] = stored
        return stored

    async def stat(self, object_key: str) -> StoredObject | None:
        return self._objects.get(object_key)
