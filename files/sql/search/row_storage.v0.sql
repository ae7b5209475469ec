-- PostgreSQL's default row storage. search_head keeps MAIN: it exists only at version 1,
-- and going back removes the column.
ALTER TABLE files_file RESET (toast_tuple_target);
ALTER TABLE files_file
    ALTER COLUMN name SET STORAGE EXTENDED,
    ALTER COLUMN description SET STORAGE EXTENDED,
    ALTER COLUMN tags SET STORAGE EXTENDED,
    ALTER COLUMN labels SET STORAGE EXTENDED,
    ALTER COLUMN metadata SET STORAGE EXTENDED;
