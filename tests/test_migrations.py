"""Migrations that move data: run against rows written in the shape they migrate from."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_THE_MOVES = [
    ("accounts", "0002_deleted_tenant"),
    ("analytics", "0001_initial"),
    ("files", "0010_tenant_usage"),
    ("sharing", "0004_grant_granted_by"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_grants_groups_events_and_usage_move_with_their_rows():
    old = _migrate(BEFORE_THE_MOVES)
    try:
        User, Tenant = old.get_model("accounts", "User"), old.get_model("accounts", "Tenant")
        Membership, File = old.get_model("accounts", "Membership"), old.get_model("files", "File")
        Permission = old.get_model("auth", "Permission")
        UserGrant = old.get_model("sharing", "FileUserPermission")
        tenant = Tenant.objects.create(slug="moved", name="Moved")
        member, leaver = (User.objects.create(username=name, email=f"{name}@example.com") for name in ("ann", "bo"))
        Membership.objects.create(tenant=tenant, user=member, role="viewer")
        file = File.objects.create(id=uuid.uuid4(), tenant=tenant, name="a.txt", owner=member)
        view = Permission.objects.get(codename="view_file")
        kept = UserGrant.objects.create(content_object=file, user=member, permission=view)
        UserGrant.objects.create(content_object=file, user=leaver, permission=view)  # left the tenant
        # Passed on by a colleague (a re-grant), and by someone who has left since.
        colleague = User.objects.create(username="cy", email="cy@example.com")
        Membership.objects.create(tenant=tenant, user=colleague, role="editor")
        change = Permission.objects.get(codename="change_file")
        regrant = UserGrant.objects.create(content_object=file, user=member, permission=change, granted_by=colleague)
        UserGrant.objects.create(
            content_object=file,
            user=member,
            permission=old.get_model("auth", "Permission").objects.get(codename="delete_file"),
            granted_by=leaver,
        )
        old.get_model("analytics", "ActivityEvent").objects.create(tenant=tenant, verb="file.uploaded")
        old.get_model("sharing", "TenantGroup").objects.create(
            tenant=tenant, name="Team", group=old.get_model("auth", "Group").objects.create(name="g")
        )
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO files_tenantusage (tenant_id, bytes) VALUES (%s, 42)", [tenant.pk])
    finally:
        new = _migrate(_latest())

    grants = new.get_model("files", "FileUserPermission").objects.order_by("pk")
    assert [(g.pk, g.user_id, g.membership.user_id) for g in grants] == [
        (kept.pk, member.pk, member.pk),
        (regrant.pk, member.pk, member.pk),
    ]
    assert [g.grantor.user_id if g.grantor else None for g in grants] == [None, colleague.pk]
    assert new.get_model("accounts", "ActivityEvent").objects.get().verb == "file.uploaded"
    assert new.get_model("accounts", "TenantGroup").objects.get().name == "Team"
    assert new.get_model("accounts", "TenantUsage").objects.get().bytes == 42
    # The blob triggers count into the moved table.
    blob = new.get_model("files", "Blob").objects.create(
        tenant_id=tenant.pk, sha256="b" * 64, size=8, content_type="text/plain", storage_key="k"
    )
    usage = new.get_model("accounts", "TenantUsage").objects.filter(tenant_id=tenant.pk)
    assert sorted(usage.values_list("bytes", flat=True)) == [8, 42]
    blob.delete()
