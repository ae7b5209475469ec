"""Search that stays fast at a million files: a small head vector, narrow rows, a vocabulary.

- `search_head`: the name (A), tags and labels (B), description and metadata (C) as their
  own small vector, indexed beside the full one, so the best-ranked matches (those in a
  name, tag or description) are found and ranked without reading extracted text. The full
  `search_vector` is the head plus the text (D) and still answers "matches anywhere".
- Narrow rows: extracted text and the full vector leave the row (TOAST) as soon as a row
  passes 128 bytes, while the columns lists and facets read stay in it (storage MAIN).
  A tenant's matches are then a few pages of the heap instead of one page each.
  Existing rows narrow as they are next written (or at once with VACUUM FULL).
- `files_searchterm`: the distinct words of names and tags per tenant, with a trigram
  index: "did you mean" compares a misspelt word with a few thousand words instead of
  every file name (the old trigram index on names, gone here, also tempted the planner
  away from the full-text index for common words).
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

from files.sql import load_sql

# The SQL is in files/sql/search/ (README there). Going back restores version 1 of what
# 0003 installed and removes what this adds.
FORWARD = [
    "search/vector_function.v2",
    "search/terms_function.v1",
    "search/terms_trigger.v1",
    "search/row_storage.v1",
    "search/indexes.v2",
]
REVERSE = [
    "search/vector_function.v1",
    "search/indexes.v1",
    "search/row_storage.v0",
    "search/terms_trigger.v0",
    "search/terms_function.v0",
]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("files", "0005_trashed_paths_leave_namespace"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchTerm",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("term", models.CharField(max_length=255)),
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
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "term"), name="searchterm_tenant_term_unique")
                ],
                "indexes": [
                    django.contrib.postgres.indexes.GinIndex(
                        fields=["tenant", "term"], name="searchterm_tenant_trgm", opclasses=["uuid_ops", "gin_trgm_ops"]
                    )
                ],
            },
        ),
        migrations.RemoveIndex(model_name="file", name="file_tenant_deleted"),
        migrations.AddIndex(
            model_name="file",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", False)),
                fields=["tenant", "deleted_at"],
                name="file_tenant_trashed",
            ),
        ),
        migrations.AddField(
            model_name="file",
            name="search_head",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunSQL(load_sql(*FORWARD), load_sql(*REVERSE)),
        # Fill the head vectors and the vocabulary for rows that existed before.
        migrations.RunSQL("UPDATE files_file SET name = name", migrations.RunSQL.noop),
    ]
