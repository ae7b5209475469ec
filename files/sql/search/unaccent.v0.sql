-- No mp_unaccent().
DROP FUNCTION IF EXISTS mp_unaccent(text);
