-- Version 2: one GIN for both vectors, keyed by the tenant as text. Searches name the tenant
-- that way as well, and no b-tree can answer that, so the planner takes this index for the
-- words instead of any b-tree on tenant_id plus a row-by-row test that reads vectors from
-- TOAST. "Did you mean" reads the vocabulary's own trigram index, not file names.
DROP INDEX IF EXISTS file_tenant_name_trgm;
DROP INDEX IF EXISTS file_tenant_search;
CREATE INDEX file_search ON files_file USING gin ((tenant_id::text), search_vector, search_head);
