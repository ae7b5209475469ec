"""The vocabulary trigger inserts a file's words in order.

Two uploads bringing the same new words each wait, in `ON CONFLICT`, for the other's
uncommitted insert of a word; taken in no fixed order, they could wait for each other.
In sorted order, the first to reach a shared word goes first for all of them.
"""

import importlib
import re

from django.db import migrations

TERMS_FUNCTION = r"""
CREATE OR REPLACE FUNCTION mp_file_search_terms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO files_searchterm (tenant_id, term)
    SELECT NEW.tenant_id, lexeme
    FROM (SELECT DISTINCT lexeme FROM unnest(to_tsvector('mp_simple',
        regexp_replace(coalesce(NEW.name, ''), '[._\-]+', ' ', 'g') || ' ' || array_to_string(NEW.tags, ' ')))) AS words
    WHERE length(lexeme) BETWEEN 3 AND 255 AND lexeme !~ '^[0-9]+$'
    ORDER BY lexeme
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
"""

# Going back restores 0006's version of the function.
PREVIOUS_FUNCTION = re.search(
    r"CREATE OR REPLACE FUNCTION mp_file_search_terms\(\).*?\n\$\$;",
    importlib.import_module("files.migrations.0006_search_tiers").FUNCTIONS,
    re.S,
).group(0)


class Migration(migrations.Migration):
    dependencies = [("files", "0006_search_tiers")]

    operations = [migrations.RunSQL(TERMS_FUNCTION, PREVIOUS_FUNCTION)]
