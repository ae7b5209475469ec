"""Analytics' own tables: roll-ups that dashboards read instead of scanning files or events.

The audit trail itself is accounts.ActivityEvent (every app writes it); what is counted from
it, and from the stored files, lands here.
"""

from __future__ import annotations

import math
import uuid

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


class UsageHour(models.Model):
    """A tenant's activity in one hour (UTC), counted from the audit trail and the view
    counter by analytics.services.rollups; the usage series sums these rows.

    `uploads`/`upload_bytes` new files and new versions (their bytes as sent, duplicates
    included), `downloads` a file's bytes handed out (members, public files, share links)
    plus ZIPs through folder links, `views` file pages opened and previews loaded
    (mediaportal.viewcounts), `share_hits` share pages opened and downloads through links.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    uploads = models.BigIntegerField(default=0)
    upload_bytes = models.BigIntegerField(default=0)
    downloads = models.BigIntegerField(default=0)
    views = models.BigIntegerField(default=0)
    share_hits = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-hour"]
        constraints = [models.UniqueConstraint(fields=["tenant", "hour"], name="usage_hour_tenant_hour")]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.hour:%Y-%m-%d %H:00}"


class ActiveUserDay(models.Model):
    """A user who did something in a tenant on a day (UTC): distinct users cannot be summed
    from hourly counts, so a week's active users are the distinct users of its seven days.

    `user_id` is not a foreign key: the history keeps counting a user deleted since.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    user_id = models.UUIDField()

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["tenant", "day", "user_id"], name="active_user_day_unique")]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day} {self.user_id}"


class RollupCursor(models.Model):
    """How far a roll-up has read the audit trail (accounts.ActivityEvent ids).

    `marks` are the highest event id seen at each recent run, as [unix time, id] pairs: ids
    are handed out when a row is inserted, not when its transaction commits, so the usage
    roll-up reads again from the highest id seen a safety window ago
    (ANALYTICS_LATE_COMMIT_SECONDS) and counts events that committed late.
    """

    name = models.CharField(max_length=40, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    marks = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at event {self.last_id}"


class AlertKind(models.TextChoices):
    QUOTA = "quota", "Quota"
    BUDGET = "budget", "Budget"


class Alert(models.Model):
    """A tenant crossed a threshold of its quota or budget (analytics.services.alerts).

    `value` is the ratio measured when the alert was raised: bytes used / quota_bytes, or the
    estimated monthly cost / monthly_budget (0.83 is 83 %); `threshold` is the ratio it
    crossed. An alert stays open (cleared_at null) while the ratio stays at or above its
    threshold, and at most one per tenant, kind and threshold is open, so each crossing raises
    it once; once the ratio drops below, it is cleared, and the next crossing raises a new one.
    `data` keeps the figures behind the ratio (bytes and quota, or cost, budget and currency).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=AlertKind.choices)
    threshold = models.FloatField()
    value = models.FloatField()
    data = models.JSONField(default=dict, blank=True)
    raised_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            # Also the index of the portal's banner query (a tenant's open alerts).
            models.UniqueConstraint(
                fields=["tenant", "kind", "threshold"],
                condition=models.Q(cleared_at__isnull=True),
                name="alert_open_once",
            )
        ]
        indexes = [models.Index(fields=["tenant", "-raised_at"], name="alert_tenant_raised")]

    def __str__(self) -> str:
        return f"{self.kind} {self.threshold_percent} % {self.tenant_id}"

    # Whole percents rounded down, so a figure never claims a level that was not reached
    # (the epsilon: 0.95 * 100 is 94.999… in binary).
    @property
    def value_percent(self) -> int:
        return math.floor(self.value * 100 + 1e-9)

    @property
    def threshold_percent(self) -> int:
        return math.floor(self.threshold * 100 + 1e-9)
