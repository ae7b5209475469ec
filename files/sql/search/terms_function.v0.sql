-- No mp_file_search_terms().
DROP FUNCTION IF EXISTS mp_file_search_terms();
