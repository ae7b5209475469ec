"""The search index without GIN's pending list (files/sql/search/index_options.v1.sql)."""

from django.db import migrations

from files.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0020_similar"),
    ]

    operations = [
        migrations.RunSQL(load_sql("search/index_options.v1"), load_sql("search/index_options.v0")),
    ]
