"""Tenant usage as rows of changes, kept by triggers on files_blob, for the quota check:
the check sums a handful of rows instead of every blob of the tenant.

Statement triggers with transition tables write one row per tenant per statement, so a
bulk insert or a cascade delete of thousands of blobs adds one row, and a statement that
changes no size (the dedup upsert that finds its row) adds none. Rows are only inserted,
never updated in place, so no upload or purge waits for another to count. The triggers are
created before the first rows are filled in, so the blob table stays locked against
writes until the migration commits and nothing is counted twice or missed. The foreign key
cascades in the database: a tenant's deletion deletes its blobs first, and the rows that
adds must go with the tenant too.
"""

from django.db import migrations, models

from files.sql import load_sql

FOREIGN_KEY = """
ALTER TABLE files_tenantusage ADD CONSTRAINT files_tenantusage_tenant_fk
    FOREIGN KEY (tenant_id) REFERENCES accounts_tenant (id) ON DELETE CASCADE;
"""

FILL = """
INSERT INTO files_tenantusage (tenant_id, bytes)
SELECT tenant_id, sum(size) FROM files_blob GROUP BY tenant_id HAVING sum(size) <> 0;
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_deleted_tenant"), ("files", "0009_content_type_in_row")]

    operations = [
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
        ),
        migrations.RunSQL(FOREIGN_KEY, "ALTER TABLE files_tenantusage DROP CONSTRAINT files_tenantusage_tenant_fk"),
        # The triggers and their function: files/sql/usage/ (README in files/sql/).
        migrations.RunSQL(load_sql("usage/blob_usage_triggers.v1") + FILL, load_sql("usage/blob_usage_triggers.v0")),
    ]
