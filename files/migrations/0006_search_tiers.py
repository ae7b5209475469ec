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

import importlib
import re

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

# Going back restores 0003's vector function, which knows nothing of search_head.
PREVIOUS_FUNCTION = re.search(
    r"CREATE OR REPLACE FUNCTION mp_file_search_vector\(\).*?\n\$\$;",
    importlib.import_module("files.migrations.0003_search").FUNCTIONS,
    re.S,
).group(0)

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION mp_file_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cfg regconfig;
BEGIN
    SELECT ('mp_' || search_config)::regconfig INTO cfg FROM accounts_tenant WHERE id = NEW.tenant_id;
    cfg := coalesce(cfg, 'mp_english'::regconfig);
    NEW.search_head :=
        -- The name twice: as written, and with separators as spaces ("IMG_2041.jpg" → "IMG 2041 jpg").
        setweight(to_tsvector(cfg, (
            coalesce(NEW.name, '') || ' ' || regexp_replace(coalesce(NEW.name, ''), '[._\-]+', ' ', 'g'))), 'A') ||
        setweight(to_tsvector(cfg, (
            array_to_string(NEW.tags, ' ') || ' ' ||
            coalesce((SELECT string_agg(label->>'name', ' ') FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(NEW.labels) = 'array' THEN NEW.labels ELSE '[]'::jsonb END) AS label), ''))), 'B') ||
        setweight(to_tsvector(cfg, (concat_ws(' ',
            NEW.description,
            NEW.metadata->>'title', NEW.metadata->>'author', NEW.metadata->>'subject',
            NEW.metadata->>'camera_make', NEW.metadata->>'camera_model', NEW.metadata->>'lens'))), 'C');
    NEW.search_vector := NEW.search_head ||
        setweight(to_tsvector(cfg, (left(coalesce(NEW.content_text, ''), 100000))), 'D');
    RETURN NEW;
END
$$;

-- Words of names and tags, unaccented and lower-case as mp_simple makes them; numbers and
-- words under three letters are not worth suggesting.
CREATE OR REPLACE FUNCTION mp_file_search_terms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO files_searchterm (tenant_id, term)
    SELECT DISTINCT NEW.tenant_id, lexeme
    FROM unnest(to_tsvector('mp_simple',
        regexp_replace(coalesce(NEW.name, ''), '[._\-]+', ' ', 'g') || ' ' || array_to_string(NEW.tags, ' ')))
    WHERE length(lexeme) BETWEEN 3 AND 255 AND lexeme !~ '^[0-9]+$'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER files_file_search_terms
    AFTER INSERT OR UPDATE OF name, tags, tenant_id
    ON files_file FOR EACH ROW EXECUTE FUNCTION mp_file_search_terms();

ALTER TABLE files_file
    ALTER COLUMN name SET STORAGE MAIN,
    ALTER COLUMN description SET STORAGE MAIN,
    ALTER COLUMN tags SET STORAGE MAIN,
    ALTER COLUMN labels SET STORAGE MAIN,
    ALTER COLUMN metadata SET STORAGE MAIN,
    ALTER COLUMN search_head SET STORAGE MAIN;
ALTER TABLE files_file SET (toast_tuple_target = 128);

DROP INDEX IF EXISTS file_tenant_name_trgm;
-- One GIN for both vectors, keyed by the tenant as text: searches name the tenant that way
-- as well, and no b-tree can answer that, so the planner takes this index for the words
-- instead of any b-tree on tenant_id plus a row-by-row test that reads vectors from TOAST.
DROP INDEX IF EXISTS file_tenant_search;
CREATE INDEX file_search ON files_file USING gin ((tenant_id::text), search_vector, search_head);
"""

REVERSE = (
    PREVIOUS_FUNCTION
    + r"""
DROP INDEX IF EXISTS file_search;
CREATE INDEX file_tenant_search ON files_file USING gin (tenant_id, search_vector);
CREATE INDEX file_tenant_name_trgm ON files_file USING gin (tenant_id, (mp_unaccent(lower(name))) gin_trgm_ops);
ALTER TABLE files_file RESET (toast_tuple_target);
ALTER TABLE files_file
    ALTER COLUMN name SET STORAGE EXTENDED,
    ALTER COLUMN description SET STORAGE EXTENDED,
    ALTER COLUMN tags SET STORAGE EXTENDED,
    ALTER COLUMN labels SET STORAGE EXTENDED,
    ALTER COLUMN metadata SET STORAGE EXTENDED;
DROP TRIGGER IF EXISTS files_file_search_terms ON files_file;
DROP FUNCTION IF EXISTS mp_file_search_terms();
"""
)


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
        migrations.RunSQL(FUNCTIONS, REVERSE),
        # Fill the head vectors and the vocabulary for rows that existed before.
        migrations.RunSQL("UPDATE files_file SET name = name", migrations.RunSQL.noop),
    ]
