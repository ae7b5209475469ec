-- Version 1: a GIN on (tenant_id, search_vector) (btree_gin), since searches always run
-- inside one tenant; a trigram GIN on names for "did you mean".
DROP INDEX IF EXISTS file_search;
CREATE INDEX file_tenant_search ON files_file USING gin (tenant_id, search_vector);
CREATE INDEX file_tenant_name_trgm ON files_file USING gin (tenant_id, (mp_unaccent(lower(name))) gin_trgm_ops);
