"""Resumable multipart uploads: the S3 upload id and part size of a direct upload, whether
its parts are joined, and the folder (and folder path below it) the file goes to."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0015_browse_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="uploadsession",
            name="multipart_id",
            field=models.CharField(blank=True, max_length=1024),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="part_size",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="parts_assembled",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="folder",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="files.folder",
            ),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="relative_path",
            field=models.TextField(blank=True),
        ),
    ]
