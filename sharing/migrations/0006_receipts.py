"""Share receipts: first-open notification, and an index to count a link's downloads.

A link's download events name the file (or folder) they served, not the link, because the
file's own activity lists them; the link is in `data->'share'`. The partial index lets the
receipts count one link's downloads without reading the tenant's other events. It lives
here rather than on ActivityEvent's Meta because only sharing reads it.
"""

from django.db import migrations, models

SHARE_DOWNLOADS_INDEX = """
CREATE INDEX IF NOT EXISTS event_share_downloads
ON accounts_activityevent (tenant_id, (data -> 'share'), at)
WHERE verb IN ('share.downloaded', 'share.zip_downloaded')
"""


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0005_grants_and_groups_moved"),
        ("accounts", "0008_activity_target_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="sharelink",
            name="notify_on_first_open",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="sharelink",
            name="first_opened_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(SHARE_DOWNLOADS_INDEX, reverse_sql="DROP INDEX IF EXISTS event_share_downloads"),
    ]
