-- Adds a file's name and tag words to its tenant's vocabulary (files_searchterm). Words are
-- only added: a rebuild of the index (`rebuild_search_index`) forgets those no file has.
CREATE TRIGGER files_file_search_terms
    AFTER INSERT OR UPDATE OF name, tags, tenant_id
    ON files_file FOR EACH ROW EXECUTE FUNCTION mp_file_search_terms();
