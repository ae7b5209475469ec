"""Analytics' roll-ups and alerts, read-only: the roll-up tasks write the roll-ups (and rewrite
them when recounted), the alert check raises and clears the alerts."""

from __future__ import annotations

from django.contrib import admin

from analytics.models import ActiveUserDay, Alert, RollupCursor, StorageSnapshot, UsageHour
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


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    # Raised and cleared by the alert check only (analytics.services.alerts).
    list_display = ["tenant", "kind", "threshold", "value", "raised_at", "cleared_at"]
    list_filter = ["kind", "threshold", ("cleared_at", admin.EmptyFieldListFilter), "raised_at"]
    search_fields = ["tenant__slug", "tenant__name"]
    list_select_related = ["tenant"]
    date_hierarchy = "raised_at"
