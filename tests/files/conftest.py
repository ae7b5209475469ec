from __future__ import annotations

import hashlib
import json

import pytest

from files import storage
from tests.helpers import CORPUS


def tenant_objects(tenant, kind: str = "blobs") -> list[str]:
    """Keys stored in the primary bucket under the tenant's prefix."""
    return sorted(obj["Key"] for obj in storage.object_keys(f"tenants/{tenant.id}/{kind}/"))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client, tenant, name: str, data: bytes, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = {"file": SimpleUploadedFile(name, data, content_type=fields.pop("content_type", "application/octet-stream"))}
    body.update(fields)
    return client.post(f"/api/v1/tenants/{tenant.slug}/files/", body, format="multipart")


@pytest.fixture
def corpus_manifest() -> dict:
    return json.loads((CORPUS / "MANIFEST.json").read_text())
