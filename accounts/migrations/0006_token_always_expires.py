"""Every API token expires. Tokens made without an expiry (registration's, and tokens asked
for without one) get one API_TOKEN_TTL from now, so their holders keep a full period."""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def _give_expiry(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.filter(expires_at__isnull=True).update(expires_at=timezone.now() + settings.API_TOKEN_TTL)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_tenant_public_files")]

    operations = [
        migrations.RunPython(_give_expiry, migrations.RunPython.noop),
        migrations.AlterField(model_name="apitoken", name="expires_at", field=models.DateTimeField()),
    ]
