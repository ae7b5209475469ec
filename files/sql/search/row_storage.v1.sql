-- Narrow rows: extracted text and the full vector leave the row (TOAST) as soon as a row
-- passes 128 bytes, while the columns that lists, facets and the head ranking read stay in
-- it (storage MAIN), so a tenant's matches are a few heap pages instead of one page each.
ALTER TABLE files_file
    ALTER COLUMN name SET STORAGE MAIN,
    ALTER COLUMN description SET STORAGE MAIN,
    ALTER COLUMN tags SET STORAGE MAIN,
    ALTER COLUMN labels SET STORAGE MAIN,
    ALTER COLUMN metadata SET STORAGE MAIN,
    ALTER COLUMN search_head SET STORAGE MAIN;
ALTER TABLE files_file SET (toast_tuple_target = 128);
