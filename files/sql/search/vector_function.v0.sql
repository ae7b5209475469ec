-- No mp_file_search_vector().
DROP FUNCTION IF EXISTS mp_file_search_vector();
