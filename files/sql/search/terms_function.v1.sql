-- mp_file_search_terms(), version 1: the vocabulary that "did you mean" corrects from.
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
