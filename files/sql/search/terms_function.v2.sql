-- mp_file_search_terms(), version 2: as version 1, inserting a file's words in sorted order.
-- Two uploads bringing the same new words each wait, in ON CONFLICT, for the other's
-- uncommitted insert of a word; in sorted order the first to reach a shared word goes first
-- for all of them, where in no fixed order they could wait for each other.
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
