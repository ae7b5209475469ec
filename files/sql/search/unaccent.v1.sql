-- unaccent() is only STABLE (it reads its dictionary by name); naming the dictionary
-- explicitly makes it safe to call from a trigger and an index expression.
CREATE OR REPLACE FUNCTION mp_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;
