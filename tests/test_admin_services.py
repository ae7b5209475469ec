"""The admin site keeps the rules the API keeps: its writes go through the same services."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from accounts.models import ActivityEvent, DeletedTenant, Membership, Role, Tenant, User
from accounts.selectors import tenant_with_used_bytes
from files import storage
from files.models import Blob, File, FileUserPermission, Folder
from tests.factories import MembershipFactory
from tests.files.conftest import tenant_objects, upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_a_file_deleted_in_the_admin_frees_its_blob_its_bytes_and_the_quota(
    admin_client, editor, tenant, django_capture_on_commit_callbacks
):
    file = upload(editor, tenant, "notes.txt", b"bytes the tenant pays for").json()
    assert tenant_with_used_bytes(tenant=tenant).used_bytes == len(b"bytes the tenant pays for")
    assert tenant_objects(tenant) != []

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/files/file/{file['id']}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not File.objects.filter(pk=file["id"]).exists()
    assert not Blob.objects.filter(tenant=tenant).exists()
    assert tenant_with_used_bytes(tenant=tenant).used_bytes == 0
    assert tenant_objects(tenant) == []
    event = ActivityEvent.objects.get(verb="file.purged", tenant=tenant)
    assert event.user.is_superuser and event.data["id"] == file["id"]


def test_a_folder_deleted_in_the_admin_takes_its_files_and_their_bytes(
    admin_client, editor, tenant, django_capture_on_commit_callbacks
):
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Old"}, format="json").json()
    upload(editor, tenant, "inside.txt", b"inside the folder", folder=folder["id"])

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/files/folder/{folder['id']}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Folder.objects.filter(pk=folder["id"]).exists()
    assert not File.objects.filter(tenant=tenant).exists()
    assert tenant_with_used_bytes(tenant=tenant).used_bytes == 0
    assert list(storage.object_keys(f"tenants/{tenant.id}/blobs/")) == []


def test_renaming_a_folder_in_the_admin_rewrites_the_paths_below_it(admin_client, editor, tenant):
    top = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Top"}, format="json").json()
    editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Sub", "parent": top["id"]}, format="json")

    response = admin_client.post(f"/admin/files/folder/{top['id']}/change/", {"name": "Renamed", "parent": ""})

    assert response.status_code == 302
    assert sorted(Folder.objects.filter(tenant=tenant).values_list("path", flat=True)) == [
        "/Renamed/",
        "/Renamed/Sub/",
    ]
    assert ActivityEvent.objects.filter(verb="folder.renamed", tenant=tenant).exists()


def test_a_name_taken_refuses_the_rename_in_the_admin_and_changes_nothing(admin_client, editor, tenant):
    first = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "First"}, format="json").json()
    editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Second"}, format="json")

    response = admin_client.post(f"/admin/files/folder/{first['id']}/change/", {"name": "second", "parent": ""})

    assert response.status_code == 302
    assert any("already exists" in message for message in _messages(response))
    assert Folder.objects.get(pk=first["id"]).path == "/First/"


def test_the_last_owner_cannot_be_demoted_or_removed_in_the_admin(admin_client, tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER)

    demoted = admin_client.post(f"/admin/accounts/membership/{owner.pk}/change/", {"role": Role.EDITOR})
    removed = admin_client.post(f"/admin/accounts/membership/{owner.pk}/delete/", {"post": "yes"})

    assert "A tenant must keep at least one owner." in _messages(demoted)
    assert "The last owner cannot be removed." in _messages(removed)
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_a_role_changed_in_the_admin_is_an_audited_change(admin_client, tenant):
    MembershipFactory(tenant=tenant, role=Role.OWNER)
    member = MembershipFactory(tenant=tenant, role=Role.VIEWER)

    response = admin_client.post(f"/admin/accounts/membership/{member.pk}/change/", {"role": Role.EDITOR})

    assert response.status_code == 302
    assert Membership.objects.get(pk=member.pk).role == Role.EDITOR
    event = ActivityEvent.objects.get(verb="member.role_changed", tenant=tenant)
    assert event.data == {"from": Role.VIEWER, "to": Role.EDITOR}


def test_a_member_removed_in_the_admin_loses_their_grants(admin_client, tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER)
    reader = MembershipFactory(tenant=tenant, role=Role.VIEWER)
    client = client_for(owner.user)
    file = upload(client, tenant, "private.txt", b"private").json()
    client.post(
        f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/permissions/",
        {"user": str(reader.user_id), "permissions": ["view"]},
        format="json",
    )
    assert FileUserPermission.objects.filter(user=reader.user).exists()

    response = admin_client.post(f"/admin/accounts/membership/{reader.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=reader.pk).exists()
    assert not FileUserPermission.objects.filter(user=reader.user).exists()
    assert ActivityEvent.objects.filter(verb="member.removed", tenant=tenant).exists()


def test_a_user_who_is_a_tenants_last_owner_cannot_be_deleted_in_the_admin(admin_client, tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER)

    response = admin_client.post(f"/admin/accounts/user/{owner.user_id}/delete/", {"post": "yes"})

    assert any("last owner" in message for message in _messages(response))
    assert User.objects.filter(pk=owner.user_id).exists()


def test_a_tenant_deleted_in_the_admin_is_recorded_for_the_sweep_and_audited(admin_client, tenant):
    response = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert DeletedTenant.objects.filter(pk=tenant.pk, slug=tenant.slug).exists()
    assert ActivityEvent.objects.get(verb="tenant.deleted").data["slug"] == tenant.slug


@pytest.mark.parametrize("model", ["blob", "fileversion", "rendition", "fileuserpermission", "activityevent"])
def test_rows_only_the_product_writes_cannot_be_edited_or_deleted_in_the_admin(admin_client, model):
    app = "accounts" if model == "activityevent" else "files"
    page = admin_client.get(f"/admin/{app}/{model}/").content.decode()
    assert "Delete selected" not in page and f"/admin/{app}/{model}/add/" not in page


def _form_data(admin_client, url: str, **changes) -> dict:
    """What the admin's change form posts as rendered (inlines included), with `changes`."""
    page = admin_client.get(url)
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {field.html_name: field.value() for form in forms for field in form if field.value() is not None}
    return {**data, **changes}


def test_tenant_settings_keep_the_apis_bounds_in_the_admin(admin_client, tenant):
    MembershipFactory(tenant=tenant, role=Role.OWNER)
    url = f"/admin/accounts/tenant/{tenant.pk}/change/"

    refused = admin_client.post(url, _form_data(admin_client, url, trash_retention_days=0))
    changed = admin_client.post(url, _form_data(admin_client, url, trash_retention_days=7, quota_bytes=1000))

    assert "trash_retention_days must be between 1 and 3650." in _messages(refused)
    assert changed.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.trash_retention_days, tenant.quota_bytes) == (7, 1000)
    assert ActivityEvent.objects.filter(tenant=tenant, verb="tenant.quota_changed").exists()


def test_revoking_a_link_in_the_admin_needs_the_change_permission(client, editor, tenant):
    from django.contrib.auth.models import Permission

    from sharing.models import ShareLink

    file = upload(editor, tenant, "a.txt", b"a").json()
    editor.post(f"/api/v1/tenants/{tenant.slug}/shares/", {"file": file["id"]}, format="json")
    link = ShareLink.objects.get(tenant=tenant)
    watcher = User.objects.create_user(username="watcher", password="pw-watcher-1", is_staff=True)
    watcher.user_permissions.add(Permission.objects.get(codename="view_sharelink"))
    client.force_login(watcher)

    client.post("/admin/sharing/sharelink/", {"action": "revoke", "_selected_action": [str(link.pk)]})

    link.refresh_from_db()
    assert link.revoked_at is None


def test_a_bulk_delete_of_a_folder_and_its_subfolder_purges_both(admin_client, editor, tenant):
    top = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Top"}, format="json").json()
    sub = editor.post(
        f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Sub", "parent": top["id"]}, format="json"
    ).json()

    response = admin_client.post(
        "/admin/files/folder/", {"action": "delete_selected", "_selected_action": [top["id"], sub["id"]], "post": "yes"}
    )

    assert response.status_code == 302
    assert not Folder.objects.filter(tenant=tenant).exists()


def test_a_member_added_in_the_admin_is_the_row_the_service_made(admin_client, tenant):
    from tests.factories import UserFactory

    newcomer = UserFactory()
    response = admin_client.post(
        "/admin/accounts/membership/add/", {"user": str(newcomer.pk), "tenant": str(tenant.pk), "role": Role.EDITOR}
    )

    membership = Membership.objects.get(tenant=tenant, user=newcomer)
    assert response.status_code == 302
    assert f"/admin/accounts/membership/{membership.pk}/change/" in " ".join(_messages(response))
    assert ActivityEvent.objects.filter(verb="member.added", tenant=tenant).exists()


def test_groups_are_not_edited_in_the_admin(admin_client, tenant):
    member = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    assert admin_client.get("/admin/auth/group/").status_code == 404
    page = admin_client.get(f"/admin/accounts/user/{member.user_id}/change/").content.decode()
    assert 'name="groups"' not in page


def test_a_tenant_that_still_holds_files_can_be_deleted_in_the_admin(admin_client, tenant, editor):
    upload(editor, tenant, "kept.txt", b"still here")
    response = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert DeletedTenant.objects.filter(pk=tenant.pk).exists()
