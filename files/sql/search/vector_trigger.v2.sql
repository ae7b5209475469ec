-- Recomputes a file's vectors whenever a column they are made from changes (the tenant too:
-- its language chooses the configuration); version 2 adds `ocr_text`.
DROP TRIGGER IF EXISTS files_file_search_vector ON files_file;
CREATE TRIGGER files_file_search_vector
    BEFORE INSERT OR UPDATE OF name, tags, labels, description, metadata, content_text, ocr_text, tenant_id
    ON files_file FOR EACH ROW EXECUTE FUNCTION mp_file_search_vector();
