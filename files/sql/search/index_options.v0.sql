-- GIN's default: writes append to a pending list, merged by VACUUM or once it is full.
ALTER INDEX file_search RESET (fastupdate);
