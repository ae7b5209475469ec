"""The grant tables now belong to files (files.0011) and TenantGroup to accounts
(accounts.0003); both kept and renamed their tables."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0004_grant_granted_by"),
        ("files", "0011_grants_from_sharing"),
        ("accounts", "0003_tenantgroup_activityevent"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="FileUserPermission"),
                migrations.DeleteModel(name="FileGroupPermission"),
                migrations.DeleteModel(name="FolderUserPermission"),
                migrations.DeleteModel(name="FolderGroupPermission"),
                migrations.DeleteModel(name="TenantGroup"),
            ]
        ),
    ]
