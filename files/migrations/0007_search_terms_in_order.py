"""The vocabulary trigger inserts a file's words in order.

Two uploads bringing the same new words each wait, in `ON CONFLICT`, for the other's
uncommitted insert of a word; taken in no fixed order, they could wait for each other.
In sorted order, the first to reach a shared word goes first for all of them.
"""

from django.db import migrations

from files.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("files", "0006_search_tiers")]

    operations = [migrations.RunSQL(load_sql("search/terms_function.v2"), load_sql("search/terms_function.v1"))]
