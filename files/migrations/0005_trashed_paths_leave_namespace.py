"""Trashed subtrees get their trash entry's id in front of their paths (see files.models.Folder)."""

from django.db import migrations

FORWARD = """
UPDATE files_folder
   SET path = COALESCE(trashed_via_id, id)::text || ':' || path
 WHERE deleted_at IS NOT NULL AND path LIKE '/%'
"""

BACKWARD = """
UPDATE files_folder
   SET path = substr(path, strpos(path, ':') + 1)
 WHERE path NOT LIKE '/%'
"""


class Migration(migrations.Migration):
    dependencies = [("files", "0004_alter_file_options_alter_folder_options")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
