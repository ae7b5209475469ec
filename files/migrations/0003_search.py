"""Full-text search: extensions, the weighted vector kept by a trigger, and its indexes.

Weights: name A; tags and labels B; description and key metadata (title, author, subject,
camera) C; extracted text D (first 100,000 characters). The text-search configuration is
`mp_<tenant search_config>`: the language's own, with accents removed.
"""

import django.contrib.postgres.search
from django.contrib.postgres.operations import BtreeGinExtension, TrigramExtension, UnaccentExtension
from django.db import migrations

from files.sql import load_sql

# The SQL is in files/sql/search/ (README there): each object's version 1, and its absence (v0).
CONFIGURATIONS = ["search/configurations.v1"]
FUNCTIONS = ["search/unaccent.v1", "search/vector_function.v1", "search/vector_trigger.v1", "search/indexes.v1"]
REVERSE = ["search/indexes.v0", "search/vector_trigger.v0", "search/vector_function.v0", "search/unaccent.v0"]


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0002_processing"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        TrigramExtension(),
        UnaccentExtension(),
        BtreeGinExtension(),
        migrations.AddField(
            model_name="file",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunSQL(load_sql(*CONFIGURATIONS), load_sql("search/configurations.v0")),
        migrations.RunSQL(load_sql(*FUNCTIONS), load_sql(*REVERSE)),
        # Fill the vector for rows that existed before the trigger.
        migrations.RunSQL("UPDATE files_file SET name = name", migrations.RunSQL.noop),
    ]
