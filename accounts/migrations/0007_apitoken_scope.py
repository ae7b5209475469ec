"""Tokens get a scope. Existing tokens were made with every right, so they become `write`."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_token_always_expires")]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                choices=[("read", "Read only"), ("write", "Read and write")], default="write", max_length=5
            ),
        ),
    ]
