-- No search indexes on files_file.
DROP INDEX IF EXISTS file_search;
DROP INDEX IF EXISTS file_tenant_name_trgm;
DROP INDEX IF EXISTS file_tenant_search;
