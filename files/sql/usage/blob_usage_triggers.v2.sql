-- Tenant usage as rows of changes (accounts_tenantusage, the tenant's usage beside its quota), kept by statement triggers on
-- files_blob with transition tables: one row per tenant per statement, so a bulk insert or
-- a cascade delete of thousands of blobs adds one row, and a statement that changes no size
-- (the dedup upsert that finds its row) adds none. Rows are only inserted, never updated in
-- place, so no upload or purge waits for another to count.
CREATE FUNCTION files_tenant_usage_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each branch names only the transition tables its trigger has.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO accounts_tenantusage (tenant_id, bytes)
        SELECT tenant_id, sum(size) FROM new_blobs GROUP BY tenant_id HAVING sum(size) <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO accounts_tenantusage (tenant_id, bytes)
        SELECT tenant_id, -sum(size) FROM old_blobs GROUP BY tenant_id HAVING sum(size) <> 0;
    ELSE
        INSERT INTO accounts_tenantusage (tenant_id, bytes)
        SELECT tenant_id, sum(bytes) FROM (
            SELECT tenant_id, size AS bytes FROM new_blobs
            UNION ALL
            SELECT tenant_id, -size FROM old_blobs
        ) AS change
        GROUP BY tenant_id HAVING sum(bytes) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER files_blob_usage_insert AFTER INSERT ON files_blob
    REFERENCING NEW TABLE AS new_blobs FOR EACH STATEMENT EXECUTE FUNCTION files_tenant_usage_count();
CREATE TRIGGER files_blob_usage_update AFTER UPDATE ON files_blob
    REFERENCING OLD TABLE AS old_blobs NEW TABLE AS new_blobs
    FOR EACH STATEMENT EXECUTE FUNCTION files_tenant_usage_count();
CREATE TRIGGER files_blob_usage_delete AFTER DELETE ON files_blob
    REFERENCING OLD TABLE AS old_blobs FOR EACH STATEMENT EXECUTE FUNCTION files_tenant_usage_count();
