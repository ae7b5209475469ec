"""Cross-tenant isolation, generated from the URL patterns so new endpoints are covered."""

from __future__ import annotations

import re
from types import SimpleNamespace

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


PREFIX = "api/v1/tenants/<slug:tenant_slug>/"

# What a plain member (viewer or editor) of the tenant meets at each object route, for the
# two role matrices below. "visible": one of the owner's objects they can see, where the
# methods in "allowed" are theirs to use and every other method is a 403. "hidden": an
# object they cannot see, where every method is a 404. A string instead says why no such
# object exists. Every object route must be listed, so a new endpoint fails these tests
# until someone has said how it is protected.
ALL_MEMBERS_SEE = "every member sees all of the tenant's {}"
OWN_ONLY = "a member sees only their own {}"
WEBHOOKS_ARE_ADMINS = "members may not use webhooks at all: 403, not 404"
INVITATIONS_ARE_ADMINS = "members may not see or manage invitations at all: 403, not 404"
OBJECT_ROUTES: dict[str, dict] = {
    "members/<uuid:user_id>/": {"visible": {"allowed": {"get"}}, "hidden": ALL_MEMBERS_SEE.format("members")},
    "groups/<uuid:group_id>/": {"visible": {"allowed": {"get"}}, "hidden": ALL_MEMBERS_SEE.format("groups")},
    "folders/<uuid:folder_id>/": {"visible": {"allowed": {"get"}}, "hidden": {}},
    "folders/<uuid:object_id>/permissions/": {"visible": {"allowed": set()}, "hidden": {}},
    "folders/<uuid:object_id>/permissions/<uuid:grant_id>/": {"visible": {"allowed": set()}, "hidden": {}},
    "files/<uuid:file_id>/": {"visible": {"allowed": {"get"}}, "hidden": {}},
    "files/<uuid:file_id>/download/": {"visible": {"allowed": {"get"}}, "hidden": {}},
    "files/<uuid:file_id>/renditions/<str:kind>/": {"visible": {"allowed": {"get"}}, "hidden": {}},
    "files/<uuid:file_id>/ocr/": {"visible": {"allowed": {"get"}}, "hidden": {}},
    "files/<uuid:file_id>/reprocess/": {"visible": {"allowed": set()}, "hidden": {}},
    "files/<uuid:file_id>/versions/": {"visible": {"allowed": {"get"}}, "hidden": {}},
    "files/<uuid:file_id>/similar/": {"visible": {"allowed": {"get"}}, "hidden": {}},
    "files/<uuid:file_id>/versions/<int:number>/restore/": {"visible": {"allowed": set()}, "hidden": {}},
    "files/<uuid:object_id>/permissions/": {"visible": {"allowed": set()}, "hidden": {}},
    "files/<uuid:object_id>/permissions/<uuid:grant_id>/": {"visible": {"allowed": set()}, "hidden": {}},
    "shares/<uuid:share_id>/": {"visible": "links are seen by their creator and admins only", "hidden": {}},
    "shares/<uuid:share_id>/receipts/": {
        "visible": "receipts are seen by the link's creator and admins only",
        "hidden": {},
    },
    "trash/<uuid:item_id>/": {"visible": OWN_ONLY.format("trash"), "hidden": {}},
    "trash/<uuid:item_id>/restore/": {"visible": OWN_ONLY.format("trash"), "hidden": {}},
    "uploads/<uuid:upload_id>/": {"visible": OWN_ONLY.format("uploads"), "hidden": {}},
    "uploads/<uuid:upload_id>/parts/": {"visible": OWN_ONLY.format("uploads"), "hidden": {}},
    "uploads/<uuid:upload_id>/complete/": {"visible": OWN_ONLY.format("uploads"), "hidden": {}},
    # Whoever may download a file may bring its bytes back from the archive.
    "files/<uuid:file_id>/retrieve/": {"visible": {"allowed": {"post"}}, "hidden": {}},
    "folders/<uuid:folder_id>/retrieve/": {"visible": {"allowed": {"post"}}, "hidden": {}},
    "exports/<uuid:export_id>/": {"visible": "exports are seen by owners and admins only", "hidden": {}},
    "exports/<uuid:export_id>/download/": {"visible": "exports are seen by owners and admins only", "hidden": {}},
    # Webhooks are owners' and admins': a plain member is refused (403) whichever id it names.
    **{
        f"webhooks/<uuid:webhook_id>/{tail}": {"visible": {"allowed": set()}, "hidden": WEBHOOKS_ARE_ADMINS}
        for tail in ("", "deliveries/", "ping/", "deliveries/<uuid:delivery_id>/redeliver/")
    },
    # Invitations (their addresses) are owners' and admins': a plain member is refused (403).
    **{
        f"invitations/<uuid:invitation_id>/{tail}": {"visible": {"allowed": set()}, "hidden": INVITATIONS_ARE_ADMINS}
        for tail in ("", "resend/")
    },
}


@pytest.fixture
def victim(db):
    """A tenant with one of everything, and its owner's client.

    `ids` are objects every member can see, `hidden` ones only the owner can: a private file,
    a trashed folder, the owner's trashed file, share link and upload session.
    """
    owner = MembershipFactory(role=Role.OWNER)
    client = client_for(owner.user)
    tenant = owner.tenant
    base = f"/api/v1/tenants/{tenant.slug}/"
    folder = client.post(base + "folders/", {"name": "Private"}, format="json").json()
    file = upload(client, tenant, "secret.txt", b"secret v1", folder=folder["id"]).json()
    upload(client, tenant, "secret.txt", b"secret v2", folder=folder["id"], on_conflict="replace")
    private = upload(client, tenant, "private.txt", b"only mine").json()
    client.patch(base + f"files/{private['id']}/", {"visibility": "private"}, format="json")
    upload(client, tenant, "private.txt", b"only mine v2", on_conflict="replace")
    gone = client.post(base + "folders/", {"name": "Gone"}, format="json").json()
    client.delete(base + f"folders/{gone['id']}/")
    trashed = upload(client, tenant, "trashed.txt", b"in the trash").json()
    client.delete(base + f"files/{trashed['id']}/")
    group = client.post(base + "groups/", {"name": "Board"}, format="json").json()
    for target in (f"files/{file['id']}", f"files/{private['id']}", f"folders/{folder['id']}"):
        granted = client.post(
            base + f"{target}/permissions/", {"group": group["id"], "permissions": ["view"]}, format="json"
        )
        assert granted.status_code == 201
    share = client.post(base + "shares/", {"file": file["id"]}, format="json").json()
    session = client.post(base + "uploads/", {"filename": "u.bin", "size": 3}, format="json").json()
    export = client.post(base + "exports/").json()
    webhook = client.post(
        base + "webhooks/", {"url": "https://example.com/hook", "events": ["file.completed"]}, format="json"
    ).json()
    delivery = client.post(base + f"webhooks/{webhook['id']}/ping/").json()
    invitation = client.post(base + "invitations/", {"email": "guest@example.com", "role": "editor"}, format="json")
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
        "export_id": export["id"],
        "webhook_id": webhook["id"],
        "delivery_id": delivery["id"],
        "invitation_id": invitation.json()["id"],
    }
    hidden = dict(ids, file_id=private["id"], folder_id=gone["id"])
    return SimpleNamespace(tenant=tenant, ids=ids, hidden=hidden, owner=client)


def url_for(route: str, slug: str, values: dict) -> str:
    values = dict(values, object_id=values["folder_id"] if "/folders/" in route else values["file_id"])
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: slug if m[1] == "tenant_slug" else values[m[1]], route)


def state(tenant) -> tuple:
    from accounts.models import Invitation, TenantGroup
    from files.models import FileGroupPermission, FolderGroupPermission

    return (
        sorted(File.objects.filter(tenant=tenant).values_list("id", "name", "deleted_at", "folder_id", "description")),
        sorted(Folder.objects.filter(tenant=tenant).values_list("id", "name", "path", "deleted_at")),
        FileVersion.objects.filter(tenant=tenant).count(),
        sorted(UploadSession.objects.filter(tenant=tenant).values_list("id", "state")),
        tenant_objects(tenant),
        sorted(Membership.objects.filter(tenant=tenant).values_list("user_id", "role")),
        sorted(ShareLink.objects.filter(tenant=tenant).values_list("id", "revoked_at", "expires_at")),
        sorted(TenantGroup.objects.filter(tenant=tenant).values_list("id", "name", "group__user")),
        sorted(FileGroupPermission.objects.filter(content_object__tenant=tenant).values_list("id", flat=True)),
        sorted(FolderGroupPermission.objects.filter(content_object__tenant=tenant).values_list("id", flat=True)),
        sorted(Invitation.objects.filter(tenant=tenant).values_list("id", "token_hash", "role", "revoked_at")),
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
    """Every object route has a case in OBJECT_ROUTES: a new endpoint cannot slip past the matrices."""
    routes = {route.removeprefix(PREFIX) for route, _ in tenant_routes()}
    missing = sorted(routes - set(OBJECT_ROUTES))
    assert not missing, f"object routes without a case in OBJECT_ROUTES (say how they are protected): {missing}"
    assert not set(OBJECT_ROUTES) - routes, "cases for routes that no longer exist"
    assert len(routes) >= 17


def test_another_tenants_objects_are_404_through_every_url(victim):
    tenant, ids = victim.tenant, victim.ids
    attacker = MembershipFactory(role=Role.OWNER)
    client = client_for(attacker.user)
    before = state(tenant)
    checked = 0
    for route, view_class in tenant_routes():
        for slug in (attacker.tenant.slug, tenant.slug):  # own tenant with foreign ids; the foreign tenant itself
            url = url_for(route, slug, ids)
            for method, body in requests_for(view_class):
                response = call(client, method, url, body)
                assert response.status_code == 404, (method, url, response.status_code)
                assert response.json()["code"] == "not_found"
                checked += 1
    assert checked >= 20
    assert state(tenant) == before


def test_tenant_collections_do_not_leak_across_tenants(victim):
    tenant, ids = victim.tenant, victim.ids
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


def _cases(kind: str):
    """(route, view class, case) for every object route that has a `kind` case."""
    for route, view_class in tenant_routes():
        case = OBJECT_ROUTES.get(route.removeprefix(PREFIX))
        if case is None:
            pytest.fail(f"{route} has no case in OBJECT_ROUTES")
        if isinstance(case[kind], dict):
            yield route, view_class, case[kind]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_visible_objects_the_caller_may_not_change_are_403(victim, role):
    """A viewer or editor sees the owner's files, folders, members and groups; every write is a 403."""
    tenant = victim.tenant
    member = client_for(MembershipFactory(tenant=tenant, role=role).user)
    before = state(tenant)
    checked = 0
    for route, view_class, case in _cases("visible"):
        url = url_for(route, tenant.slug, victim.ids)
        for method, body in requests_for(view_class):
            response = call(member, method, url, body)
            if method in case["allowed"]:
                assert response.status_code not in (403, 500), (role, method, url, response.status_code)
                continue
            assert response.status_code == 403, (role, method, url, response.status_code, response.content[:200])
            assert response.json()["code"] == "permission_denied"
            checked += 1
    assert checked >= 17
    assert state(tenant) == before


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_objects_the_caller_cannot_see_are_404_through_every_url(victim, role):
    """Inside their own tenant, a member gets 404 for what they cannot see, exactly as for a foreign id."""
    tenant = victim.tenant
    member = client_for(MembershipFactory(tenant=tenant, role=role).user)
    before = state(tenant)
    checked = 0
    for route, view_class, _case in _cases("hidden"):
        url = url_for(route, tenant.slug, victim.hidden)
        for method, body in requests_for(view_class):
            response = call(member, method, url, body)
            assert response.status_code == 404, (role, method, url, response.status_code)
            assert response.json()["code"] == "not_found"
            checked += 1
    assert checked >= 24
    assert state(tenant) == before


def test_the_hidden_objects_are_there_for_their_owner(victim):
    """The 404s above are about who asks: the hidden objects exist and their owner reaches them."""
    base, hidden = f"/api/v1/tenants/{victim.tenant.slug}/", victim.hidden
    assert victim.owner.get(base + f"files/{hidden['file_id']}/").status_code == 200
    assert victim.owner.get(base + f"files/{hidden['file_id']}/permissions/").json()["results"]
    assert victim.owner.get(base + f"shares/{hidden['share_id']}/").status_code == 200
    trash = {entry["id"] for entry in victim.owner.get(base + "trash/").json()["results"]}
    assert {hidden["item_id"], hidden["folder_id"]} <= trash
