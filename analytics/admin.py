"""Analytics' roll-ups, read-only: the roll-up tasks write them, and rewrite them when recounted."""

from django.contrib import admin

from analytics.models import ActiveUserDay, RollupCursor, StorageSnapshot, UsageHour
from mediaportal.admin import ReadOnlyAdmin


@admin.register(StorageSnapshot)
class StorageSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["hour", "tenant", "files", "logical_bytes", "physical_bytes", "archive_bytes", "taken_at"]
    list_filter = ["tenant", "hour"]
    search_fields = ["tenant__slug"]
    list_select_related = ["tenant"]


@admin.register(UsageHour)
class UsageHourAdmin(ReadOnlyAdmin):
    list_display = ["hour", "tenant", "uploads", "upload_bytes", "downloads", "views", "share_hits"]
    list_filter = ["tenant", "hour"]
    search_fields = ["tenant__slug"]
    list_select_related = ["tenant"]


@admin.register(ActiveUserDay)
class ActiveUserDayAdmin(ReadOnlyAdmin):
    list_display = ["day", "tenant", "user_id"]
    list_filter = ["tenant", "day"]
    search_fields = ["tenant__slug"]
    list_select_related = ["tenant"]


@admin.register(RollupCursor)
class RollupCursorAdmin(ReadOnlyAdmin):
    """How far each roll-up has read the audit trail."""

    list_display = ["name", "last_id", "updated_at"]
    search_fields = ["name"]
