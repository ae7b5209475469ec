"""TenantGroup (from sharing) and ActivityEvent (from analytics) move to accounts.

Both are used by every app above accounts: groups by the permission rules in files, the
audit trail by every service that changes something. The tables are kept and renamed;
sharing.0005 and analytics.0002 drop the models from their apps' state.
"""

import uuid

import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def _rename_content_types(apps, schema_editor, *, forward=True):
    ContentType = apps.get_model("contenttypes", "ContentType")
    moves = {"tenantgroup": "sharing", "activityevent": "analytics"}
    for model, old_app in moves.items():
        source, target = (old_app, "accounts") if forward else ("accounts", old_app)
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_deleted_tenant"),
        ("analytics", "0001_initial"),
        ("sharing", "0004_grant_granted_by"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="TenantGroup",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("name", models.CharField(max_length=100)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "group",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE, related_name="tenant_group", to="auth.group"
                            ),
                        ),
                        (
                            "tenant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.tenant"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sharing_tenantgroup",
                        "constraints": [
                            models.UniqueConstraint(
                                models.F("tenant"),
                                django.db.models.functions.text.Lower("name"),
                                name="tenant_group_name_unique",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ActivityEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("verb", models.CharField(max_length=60)),
                        ("target_type", models.CharField(blank=True, max_length=40)),
                        ("target_id", models.CharField(blank=True, max_length=64)),
                        ("target_repr", models.CharField(blank=True, max_length=300)),
                        ("ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("data", models.JSONField(blank=True, default=dict)),
                        ("at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "tenant",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="accounts.tenant",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "analytics_activityevent",
                        "ordering": ["-at"],
                        "indexes": [
                            models.Index(fields=["tenant", "-at"], name="event_tenant_at"),
                            models.Index(fields=["tenant", "verb", "-at"], name="event_tenant_verb_at"),
                        ],
                    },
                ),
            ],
        ),
        migrations.AlterModelTable(name="tenantgroup", table=None),
        migrations.AlterModelTable(name="activityevent", table=None),
        migrations.RunPython(_rename_content_types, lambda apps, editor: _rename_content_types(apps, editor, forward=False)),
    ]
