"""Analytics' own tables: roll-ups that dashboards read instead of scanning files or events.

The audit trail itself is accounts.ActivityEvent (every app writes it); what is counted from
it, and from the stored files, lands here.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class StorageSnapshot(models.Model):
    """What a tenant stores, as of one hour: one row per tenant and hour, rewritten while the
    hour lasts (analytics.services.rollups), so the last row is the present and the others
    are the history the dashboard draws.

    Bytes: `logical_bytes` every version of every file not purged (the trash included: it
    still holds storage), `physical_bytes` the distinct blobs behind them (what dedup leaves,
    and what the quota counts), `rendition_bytes` thumbnails and previews, `hot_bytes` and
    `archive_bytes` the blobs by tier (a retrieving blob is still archive), `replicated_bytes`
    blobs and renditions with a verified copy in the replica region. The breakdowns are the
    shapes the analytics endpoints answer with (DESIGN 5.1).
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    taken_at = models.DateTimeField(default=timezone.now)
    files = models.BigIntegerField(default=0)
    logical_bytes = models.BigIntegerField(default=0)
    physical_bytes = models.BigIntegerField(default=0)
    rendition_bytes = models.BigIntegerField(default=0)
    hot_bytes = models.BigIntegerField(default=0)
    archive_bytes = models.BigIntegerField(default=0)
    replicated_bytes = models.BigIntegerField(default=0)
    quota_bytes = models.BigIntegerField(default=0)
    # [{"user", "bytes", "files"}], [{"folder", "path", "bytes", "files"}],
    # [{"type", "content_type", "files", "bytes"}], {"labels": {name: n}, "tags": {name: n}}
    by_user = models.JSONField(default=list, blank=True)
    by_folder = models.JSONField(default=list, blank=True)
    by_type = models.JSONField(default=list, blank=True)
    categories = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-hour"]
        constraints = [models.UniqueConstraint(fields=["tenant", "hour"], name="storage_snapshot_tenant_hour")]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.hour:%Y-%m-%d %H:00}"
