"""TenantUsage now belongs to accounts (accounts.0004 renamed its table): the blob triggers
count into accounts_tenantusage (files/sql/usage/blob_usage_triggers.v2)."""

from django.db import migrations

from files.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0011_grants_from_sharing"),
        ("accounts", "0004_tenantusage"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="TenantUsage")]),
        migrations.RunSQL(
            load_sql("usage/blob_usage_triggers.v0", "usage/blob_usage_triggers.v2"),
            load_sql("usage/blob_usage_triggers.v0", "usage/blob_usage_triggers.v1"),
        ),
    ]
