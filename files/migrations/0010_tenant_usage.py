"""A per-tenant usage counter, kept by triggers on files_blob, for the quota check.

The quota used to be checked by summing the sizes of all of a tenant's blobs, under a
per-tenant advisory lock, for every upload of new bytes: 42 ms at 300k blobs, and every
such upload of the tenant waited for it. The counter makes it one row read.

Statement triggers with transition tables add each statement's change per tenant, so a
bulk insert or a cascade delete of thousands of blobs writes the counter once, and a
statement that changes no size (the dedup upsert that finds its row) does not touch it.
A delete only updates: when a tenant is deleted its counter row may already be gone, and
must not come back. The triggers are created before the counter is filled, so the table
stays locked against writes until the migration commits and nothing is counted twice
or missed.
"""

from django.db import migrations, models

FUNCTION = """
CREATE FUNCTION files_tenant_usage_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each branch names only the transition tables its trigger has.
    IF TG_OP = 'DELETE' THEN
        UPDATE files_tenantusage AS usage SET bytes = usage.bytes - gone.bytes
        FROM (SELECT tenant_id, sum(size) AS bytes FROM old_blobs GROUP BY tenant_id) AS gone
        WHERE usage.tenant_id = gone.tenant_id AND gone.bytes <> 0;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO files_tenantusage AS usage (tenant_id, bytes)
        SELECT tenant_id, sum(size) FROM new_blobs GROUP BY tenant_id HAVING sum(size) <> 0 ORDER BY tenant_id
        ON CONFLICT (tenant_id) DO UPDATE SET bytes = usage.bytes + EXCLUDED.bytes;
    ELSE
        INSERT INTO files_tenantusage AS usage (tenant_id, bytes)
        SELECT tenant_id, sum(bytes) FROM (
            SELECT tenant_id, size AS bytes FROM new_blobs
            UNION ALL
            SELECT tenant_id, -size FROM old_blobs
        ) AS change
        GROUP BY tenant_id HAVING sum(bytes) <> 0 ORDER BY tenant_id
        ON CONFLICT (tenant_id) DO UPDATE SET bytes = usage.bytes + EXCLUDED.bytes;
    END IF;
    RETURN NULL;
END
$$;
"""

TRIGGERS = """
CREATE TRIGGER files_blob_usage_insert AFTER INSERT ON files_blob
    REFERENCING NEW TABLE AS new_blobs FOR EACH STATEMENT EXECUTE FUNCTION files_tenant_usage_count();
CREATE TRIGGER files_blob_usage_update AFTER UPDATE ON files_blob
    REFERENCING OLD TABLE AS old_blobs NEW TABLE AS new_blobs
    FOR EACH STATEMENT EXECUTE FUNCTION files_tenant_usage_count();
CREATE TRIGGER files_blob_usage_delete AFTER DELETE ON files_blob
    REFERENCING OLD TABLE AS old_blobs FOR EACH STATEMENT EXECUTE FUNCTION files_tenant_usage_count();
"""

FILL = """
INSERT INTO files_tenantusage (tenant_id, bytes)
SELECT tenant_id, sum(size) FROM files_blob GROUP BY tenant_id HAVING sum(size) <> 0;
"""

DROP = """
DROP TRIGGER files_blob_usage_insert ON files_blob;
DROP TRIGGER files_blob_usage_update ON files_blob;
DROP TRIGGER files_blob_usage_delete ON files_blob;
DROP FUNCTION files_tenant_usage_count();
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_deleted_tenant"), ("files", "0009_content_type_in_row")]

    operations = [
        migrations.CreateModel(
            name="TenantUsage",
            fields=[
                (
                    "tenant",
                    models.OneToOneField(
                        on_delete=models.deletion.CASCADE,
                        primary_key=True,
                        related_name="usage",
                        serialize=False,
                        to="accounts.tenant",
                    ),
                ),
                ("bytes", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunSQL(FUNCTION + TRIGGERS + FILL, DROP),
    ]
