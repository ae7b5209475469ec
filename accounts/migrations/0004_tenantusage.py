"""TenantUsage moves from files to accounts, beside the tenant's quota: the tenant pages
show the usage, and accounts may not read a files table. The table is kept and renamed;
files.0012 drops the model from its state and points the blob triggers at the new name."""

from django.db import migrations, models

RENAME_KEY = (
    "ALTER TABLE accounts_tenantusage RENAME CONSTRAINT files_tenantusage_tenant_fk TO accounts_tenantusage_tenant_fk"
)
RENAME_KEY_BACK = (
    "ALTER TABLE accounts_tenantusage RENAME CONSTRAINT accounts_tenantusage_tenant_fk TO files_tenantusage_tenant_fk"
)


def _rename_content_type(apps, schema_editor, *, forward=True):
    ContentType = apps.get_model("contenttypes", "ContentType")
    source, target = ("files", "accounts") if forward else ("accounts", "files")
    if not ContentType.objects.filter(app_label=target, model="tenantusage").exists():
        ContentType.objects.filter(app_label=source, model="tenantusage").update(app_label=target)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_tenantgroup_activityevent"),
        ("files", "0011_grants_from_sharing"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="TenantUsage",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("bytes", models.BigIntegerField()),
                        (
                            "tenant",
                            models.ForeignKey(
                                db_constraint=False,
                                on_delete=models.deletion.DO_NOTHING,
                                related_name="usage",
                                to="accounts.tenant",
                            ),
                        ),
                    ],
                    options={"db_table": "files_tenantusage"},
                ),
            ]
        ),
        migrations.AlterModelTable(name="tenantusage", table=None),
        migrations.RunSQL(RENAME_KEY, RENAME_KEY_BACK),
        migrations.RunPython(
            _rename_content_type, lambda apps, editor: _rename_content_type(apps, editor, forward=False)
        ),
    ]
