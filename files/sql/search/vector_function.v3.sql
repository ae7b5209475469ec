-- mp_file_search_vector(), version 3: version 2, plus the text OCR recognised (`ocr_text`),
-- weighted D like the extracted text it stands in for.
CREATE OR REPLACE FUNCTION mp_file_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cfg regconfig;
BEGIN
    SELECT ('mp_' || search_config)::regconfig INTO cfg FROM accounts_tenant WHERE id = NEW.tenant_id;
    cfg := coalesce(cfg, 'mp_english'::regconfig);
    NEW.search_head :=
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
            NEW.metadata->>'camera_make', NEW.metadata->>'camera_model', NEW.metadata->>'lens'))), 'C');
    NEW.search_vector := NEW.search_head ||
        setweight(to_tsvector(cfg, (left(coalesce(NEW.content_text, ''), 100000))), 'D') ||
        setweight(to_tsvector(cfg, (left(coalesce(NEW.ocr_text, ''), 100000))), 'D');
    RETURN NEW;
END
$$;
