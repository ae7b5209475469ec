"""Each version counts the processing runs that never came back (see FileVersion.processing_attempts)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("files", "0007_search_terms_in_order")]

    operations = [
        migrations.AddField(
            model_name="fileversion",
            name="processing_attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
