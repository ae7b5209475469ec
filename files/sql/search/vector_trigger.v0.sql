-- No vector trigger.
DROP TRIGGER IF EXISTS files_file_search_vector ON files_file;
