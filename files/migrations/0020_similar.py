
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0012_email_addresses"),
        ("files", "0019_ocr"),
    ]

    operations = [
        migrations.CreateModel(
            name="ImageFingerprint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("phash", models.BigIntegerField()),
                ("dhash", models.BigIntegerField()),
                ("colour", models.BigIntegerField()),
                ("grid", models.BinaryField(max_length=64)),
                ("p0", models.IntegerField()),
                ("p1", models.IntegerField()),
                ("p2", models.IntegerField()),
                ("p3", models.IntegerField()),
                ("d0", models.IntegerField()),
                ("d1", models.IntegerField()),
                ("d2", models.IntegerField()),
                ("d3", models.IntegerField()),
                ("width", models.PositiveIntegerField()),
                ("height", models.PositiveIntegerField()),
                ("format", models.CharField(blank=True, max_length=16)),
                ("quality", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("has_exif", models.BooleanField(default=False)),
                ("group_id", models.BigIntegerField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "blob",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="fingerprint", to="files.blob"
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.tenant",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant", "p0"], name="fingerprint_p0"),
                    models.Index(fields=["tenant", "p1"], name="fingerprint_p1"),
                    models.Index(fields=["tenant", "p2"], name="fingerprint_p2"),
                    models.Index(fields=["tenant", "p3"], name="fingerprint_p3"),
                    models.Index(fields=["tenant", "d0"], name="fingerprint_d0"),
                    models.Index(fields=["tenant", "d1"], name="fingerprint_d1"),
                    models.Index(fields=["tenant", "d2"], name="fingerprint_d2"),
                    models.Index(fields=["tenant", "d3"], name="fingerprint_d3"),
                    models.Index(fields=["tenant", "group_id"], name="fingerprint_group"),
                ],
            },
        ),
    ]
