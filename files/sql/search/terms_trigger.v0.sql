-- No vocabulary trigger.
DROP TRIGGER IF EXISTS files_file_search_terms ON files_file;
