"""ActivityEvent now belongs to accounts (accounts.0003 kept and renamed its table)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("accounts", "0003_tenantgroup_activityevent"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="ActivityEvent")]),
    ]
