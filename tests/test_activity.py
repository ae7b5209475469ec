from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db


def test_admins_read_the_audit_trail_with_addresses_others_get_403(member, editor, tenant):
    file = upload(editor, tenant, "a.txt", b"audited").json()
    token = editor.post(f"/api/v1/tenants/{tenant.slug}/shares/", {"file": file["id"]}, format="json").json()["token"]
    Client().get(f"/s/{token}/download", REMOTE_ADDR="192.0.2.44")
    admin = member(Role.ADMIN)
    url = f"/api/v1/tenants/{tenant.slug}/analytics/activity/"
    events = admin.get(url).json()["results"]
    verbs = {e["verb"] for e in events}
    assert {"file.uploaded", "share.created", "share.downloaded", "file.downloaded"} <= verbs
    shared = admin.get(url, {"verb": "share.downloaded"}).json()["results"]
    assert len(shared) == 1 and shared[0]["ip"] == "192.0.2.44" and shared[0]["user"] is None
    assert editor.get(url).status_code == 403
    assert member(Role.VIEWER).get(url).status_code == 403
