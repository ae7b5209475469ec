-- No usage triggers.
DROP TRIGGER files_blob_usage_insert ON files_blob;
DROP TRIGGER files_blob_usage_update ON files_blob;
DROP TRIGGER files_blob_usage_delete ON files_blob;
DROP FUNCTION files_tenant_usage_count();
