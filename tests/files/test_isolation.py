"""Cross-tenant isolation, generated from the URL patterns so new endpoints are covered."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, get_resolver

from accounts.models import Membership, Role
from files.models import File, FileVersion, Folder, UploadSession
from sharing.models import ShareLink
from tests.factories import MembershipFactory
from tests.files.conftest import tenant_objects, upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def tenant_routes() -> list[tuple[str, type]]:
    routes = []

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLPattern):
                if route.startswith("api/v1/tenants/<slug:tenant_slug>/") and re.search(
                    r"<\w+:(?!tenant_slug)\w+>", route
                ):
                    routes.append((route, pattern.callback.view_class))
            else:
                walk(pattern.url_patterns, route)

    walk(get_resolver().url_patterns, "")
    return routes


@pytest.fixture
def victim(db):
    """A tenant with one of everything, and its owner's client."""
    owner = MembershipFactory(role=Role.OWNER)
    client = client_for(owner.user)
    tenant = owner.tenant
    folder = client.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Private"}, format="json").json()
    file = upload(client, tenant, "secret.txt", b"secret v1", folder=folder["id"]).json()
    upload(client, tenant, "secret.txt", b"secret v2", folder=folder["id"], on_conflict="replace")
    trashed = upload(client, tenant, "trashed.txt", b"in the trash").json()
    client.delete(f"/api/v1/tenants/{tenant.slug}/files/{trashed['id']}/")
    group = client.post(f"/api/v1/tenants/{tenant.slug}/groups/", {"name": "Board"}, format="json").json()
    client.post(
        f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/permissions/",
        {"group": group["id"], "permissions": ["view"]},
        format="json",
    )
    share = client.post(f"/api/v1/tenants/{tenant.slug}/shares/", {"file": file["id"]}, format="json").json()
    session = client.post(
        f"/api/v1/tenants/{tenant.slug}/uploads/", {"filename": "u.bin", "size": 3}, format="json"
    ).json()
    ids = {
        "folder_id": folder["id"],
        "file_id": file["id"],
        "number": "1",
        "item_id": trashed["id"],
        "upload_id": session["id"],
        "user_id": str(owner.user.id),
        "kind": "thumbnail",
        "share_id": share["id"],
        "group_id": group["id"],
        "grant_id": group["id"],
    }
    return tenant, ids


def state(tenant) -> tuple:
    return (
        sorted(File.objects.filter(tenant=tenant).values_list("id", "name", "deleted_at", "folder_id", "description")),
        sorted(Folder.objects.filter(tenant=tenant).values_list("id", "name", "path", "deleted_at")),
        FileVersion.objects.filter(tenant=tenant).count(),
        sorted(UploadSession.objects.filter(tenant=tenant).values_list("id", "state")),
        tenant_objects(tenant),
        sorted(Membership.objects.filter(tenant=tenant).values_list("user_id", "role")),
        sorted(ShareLink.objects.filter(tenant=tenant).values_list("id", "revoked_at", "expires_at")),
    )


def requests_for(view_class) -> list[tuple[str, dict]]:
    bodies = {
        "get": {},
        "post": {"file": SimpleUploadedFile("x.txt", b"attack"), "name": "x"},
        "patch": {"name": "pwned", "description": "pwned", "parent": None, "role": "viewer", "members": []},
        "delete": {},
    }
    return [(method, bodies[method]) for method in ("get", "post", "patch", "delete") if hasattr(view_class, method)]


def call(client, method, url, body):
    if method == "post":
        return client.post(url, body, format="multipart")
    if method == "patch":
        return client.patch(url, body, format="json")
    return getattr(client, method)(url)


def test_matrix_covers_every_object_route():
    routes = {route for route, _ in tenant_routes()}
    for expected in (
        "folders/<uuid:folder_id>/",
        "files/<uuid:file_id>/versions/",
        "trash/<uuid:item_id>/restore/",
        "uploads/<uuid:upload_id>/complete/",
    ):
        assert any(route.endswith(expected) for route in routes), expected


def test_another_tenants_objects_are_404_through_every_url(victim):
    tenant, ids = victim
    attacker = MembershipFactory(role=Role.OWNER)
    client = client_for(attacker.user)
    before = state(tenant)
    checked = 0
    for route, view_class in tenant_routes():
        for slug in (attacker.tenant.slug, tenant.slug):  # own tenant with foreign ids; the foreign tenant itself
            own = dict(ids, object_id=ids["folder_id"] if "/folders/" in route else ids["file_id"])
            url = "/" + re.sub(
                r"<(?:\w+:)?(\w+)>", lambda m, slug=slug, own=own: slug if m[1] == "tenant_slug" else own[m[1]], route
            )
            for method, body in requests_for(view_class):
                response = call(client, method, url, body)
                assert response.status_code == 404, (method, url, response.status_code)
                assert response.json()["code"] == "not_found"
                checked += 1
    assert checked >= 20
    assert state(tenant) == before


def test_tenant_collections_do_not_leak_across_tenants(victim):
    tenant, ids = victim
    attacker = MembershipFactory(role=Role.OWNER)
    client = client_for(attacker.user)
    base = f"/api/v1/tenants/{attacker.tenant.slug}/"
    assert client.get(base + "files/").json()["results"] == []
    assert client.get(base + "folders/").json()["results"] == []
    assert client.get(base + "trash/").json()["results"] == []
    assert client.get(base + "files/", {"folder": ids["folder_id"]}).status_code == 404
    assert client.get(base + "shares/").json()["results"] == []
    for collection in ("files/", "folders/", "trash/", "search/", "shares/"):
        assert client.get(f"/api/v1/tenants/{tenant.slug}/{collection}").status_code == 404


def test_visible_objects_the_caller_may_not_change_are_403(victim):
    """A viewer sees the tenant's files and folders; every write to them is a 403, not a 404."""
    tenant, ids = victim
    viewer = client_for(MembershipFactory(tenant=tenant, role=Role.VIEWER).user)
    visible = upload(
        client_for(Membership.objects.get(tenant=tenant, role=Role.OWNER).user), tenant, "open.txt", b"open"
    ).json()
    own = dict(ids, file_id=visible["id"])
    before = state(tenant)
    checked = 0
    for route, view_class in tenant_routes():
        if not re.search(r"(files|folders)/<uuid:(file_id|folder_id|object_id)>", route) or "grant_id" in route:
            continue
        values = dict(own, object_id=own["folder_id"] if "/folders/" in route else own["file_id"])
        url = "/" + re.sub(
            r"<(?:\w+:)?(\w+)>", lambda m, v=values: tenant.slug if m[1] == "tenant_slug" else v[m[1]], route
        )
        for method, body in requests_for(view_class):
            if method == "get" and "permissions" not in route:
                continue  # reading is what a viewer may do
            response = call(viewer, method, url, body)
            assert response.status_code == 403, (method, url, response.status_code, response.content[:200])
            assert response.json()["code"] == "permission_denied"
            checked += 1
    assert checked >= 10
    assert state(tenant) == before


def test_objects_the_caller_cannot_see_are_404_through_every_url(victim):
    """Inside their own tenant, a viewer gets 404 for a private file, exactly as for a foreign one."""
    tenant, ids = victim
    owner = client_for(Membership.objects.get(tenant=tenant, role=Role.OWNER).user)
    private = upload(owner, tenant, "private.txt", b"only mine").json()
    owner.patch(f"/api/v1/tenants/{tenant.slug}/files/{private['id']}/", {"visibility": "private"}, format="json")
    viewer = client_for(MembershipFactory(tenant=tenant, role=Role.VIEWER).user)
    before = state(tenant)
    checked = 0
    for route, view_class in tenant_routes():
        if not re.search(r"files/<uuid:(file_id|object_id)>", route) or "grant_id" in route:
            continue
        values = dict(ids, file_id=private["id"], object_id=private["id"])
        url = "/" + re.sub(
            r"<(?:\w+:)?(\w+)>", lambda m, v=values: tenant.slug if m[1] == "tenant_slug" else v[m[1]], route
        )
        for method, body in requests_for(view_class):
            response = call(viewer, method, url, body)
            assert response.status_code == 404, (method, url, response.status_code)
            checked += 1
    assert checked >= 10
    assert state(tenant) == before
