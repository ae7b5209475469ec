-- mp_file_search_vector(), version 1: one weighted vector per file, kept by vector_trigger.
-- Weights: name A; tags and labels B; description and key metadata (title, author,
-- subject, camera) C; extracted text D (its first 100,000 characters). The configuration
-- is the tenant's `mp_<search_config>`.
CREATE OR REPLACE FUNCTION mp_file_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cfg regconfig;
BEGIN
    SELECT ('mp_' || search_config)::regconfig INTO cfg FROM accounts_tenant WHERE id = NEW.tenant_id;
    cfg := coalesce(cfg, 'mp_english'::regconfig);
    NEW.search_vector :=
        -- The name twice: as written, and with separators as spaces ("IMG_2041.jpg" → "IMG 2041 jpg").
        setweight(to_tsvector(cfg, (
            coalesce(NEW.name, '') || ' ' || regexp_replace(coalesce(NEW.name, ''), '[._\-]+', ' ', 'g'))), 'A') ||
        setweight(to_tsvector(cfg, (
            array_to_string(NEW.tags, ' ') || ' ' ||
            coalesce((SELECT string_agg(label->>'name', ' ') FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(NEW.labels) = 'array' THEN NEW.labels ELSE '[]'::jsonb END) AS label), ''))), 'B') ||
        setweight(to_tsvector(cfg, (concat_ws(' ',
            NEW.description,
            NEW.metadata->>'title', NEW.metadata->>'author', NEW.metadata->>'subject',
            NEW.metadata->>'camera_make', NEW.metadata->>'camera_model', NEW.metadata->>'lens'))), 'C') ||
        setweight(to_tsvector(cfg, (left(coalesce(NEW.content_text, ''), 100000))), 'D');
    RETURN NEW;
END
$$;
