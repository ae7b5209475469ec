-- No pending list on the search index: each write puts its words in the index at once.
-- With GIN's fast update, a write appends to a pending list, and every search scans that
-- whole list, row by row, until it reaches 4 MB and is merged: about 80 files of 100 KB of
-- text, and a search's database time went from 10 to 85 ms with 25 of them pending. A file
-- is written a few times in its life and searched far more often (docs/benchmarks.md).
ALTER INDEX file_search SET (fastupdate = off);
-- Turning it off leaves what is pending where it is, for the next VACUUM: merge it now.
SELECT gin_clean_pending_list('file_search'::regclass);
