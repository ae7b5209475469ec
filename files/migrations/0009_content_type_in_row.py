"""`content_type` stays in the row (storage MAIN), as 0006 made the other columns facets read.

With `toast_tuple_target = 128` every EXTENDED value longer than a TOAST pointer leaves
the row (the MAIN columns alone keep it over 128 bytes), and so did the longer office
types ("application/vnd.openxmlformats-officedocument.…", a fifth of the bench's files).
The facet pass reads each match's content type and fetched those from TOAST one by one:
about 2,000 fetches, 20-30 ms, for a common word at 1M files, more when not cached.
A type filter tested them the same way.

Existing rows keep an out-of-line content type until the table is rewritten, at once
with `VACUUM FULL files_file` (or pg_repack), which brings MAIN values back into the row.
Other writes keep it where it is; an UPDATE giving it a new value (`content_type || ''`)
moves it in too, but a new row version that does not fit its page is indexed again,
in the full-text GIN as well.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("files", "0008_fileversion_processing_attempts")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE files_file ALTER COLUMN content_type SET STORAGE MAIN",
            "ALTER TABLE files_file ALTER COLUMN content_type SET STORAGE EXTENDED",
        )
    ]
