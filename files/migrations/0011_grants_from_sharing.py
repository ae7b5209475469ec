"""The grant tables move from sharing to files, and user grants gain the grantee's membership.

files.permissions decides visibility from these tables, and files may not depend on
sharing. The tables are kept and renamed; sharing.0005 drops the models from its state.
A user grant now points at the grantee's membership (CASCADE), so leaving a tenant deletes
the grants one held in it; grants of users who are no longer members are deleted here.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("fileuserpermission", "filegrouppermission", "folderuserpermission", "foldergrouppermission")

BACKFILL = """
UPDATE files_{kind}userpermission AS grant_row
   SET membership_id = membership.id
  FROM files_{kind} AS target, accounts_membership AS membership
 WHERE target.id = grant_row.content_object_id
   AND membership.tenant_id = target.tenant_id
   AND membership.user_id = grant_row.user_id;
DELETE FROM files_{kind}userpermission WHERE membership_id IS NULL;
"""
# The new foreign key is checked at commit (Django makes them DEFERRABLE INITIALLY DEFERRED);
# checked now instead, so that NOT NULL can be set in the same transaction.
CHECK_NOW = "SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED;"


def _rename_content_types(apps, schema_editor, *, forward=True):
    ContentType = apps.get_model("contenttypes", "ContentType")
    source, target = ("sharing", "files") if forward else ("files", "sharing")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def _granted_by():
    return models.ForeignKey(
        blank=True,
        null=True,
        on_delete=django.db.models.deletion.CASCADE,
        related_name="+",
        to=settings.AUTH_USER_MODEL,
    )


def _grant_model(name: str, target: str, principal: str):
    principal_field = (
        models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)
        if principal == "user"
        else models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="auth.group")
    )
    return migrations.CreateModel(
        name=name,
        fields=[
            ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ("content_object", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to=f"files.{target}")),
            ("permission", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="auth.permission")),
            (principal, principal_field),
            ("granted_by", _granted_by()),
        ],
        options={
            "abstract": False,
            "db_table": f"sharing_{name.lower()}",
            "unique_together": {(principal, "permission", "content_object")},
        },
    )


def _membership():
    return models.ForeignKey(
        null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.membership"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0010_tenant_usage"),
        ("sharing", "0004_grant_granted_by"),
        ("accounts", "0003_tenantgroup_activityevent"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                _grant_model("FileUserPermission", "file", "user"),
                _grant_model("FileGroupPermission", "file", "group"),
                _grant_model("FolderUserPermission", "folder", "user"),
                _grant_model("FolderGroupPermission", "folder", "group"),
            ]
        ),
        *[migrations.AlterModelTable(name=model, table=None) for model in MODELS],
        migrations.RunPython(
            _rename_content_types, lambda apps, editor: _rename_content_types(apps, editor, forward=False)
        ),
        migrations.AddField(model_name="fileuserpermission", name="membership", field=_membership()),
        migrations.AddField(model_name="folderuserpermission", name="membership", field=_membership()),
        migrations.RunSQL(
            BACKFILL.format(kind="file") + BACKFILL.format(kind="folder") + CHECK_NOW, reverse_sql=migrations.RunSQL.noop
        ),
        migrations.AlterField(
            model_name="fileuserpermission",
            name="membership",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.membership"
            ),
        ),
        migrations.AlterField(
            model_name="folderuserpermission",
            name="membership",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.membership"
            ),
        ),
    ]
