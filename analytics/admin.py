"""Analytics' admin pages: roll-ups read-only (the roll-up tasks write them, and rewrite them
when recounted), webhooks without their secrets."""

from django.contrib import admin
from django.db import models

from analytics.models import (
    ActiveUserDay,
    Alert,
    RollupCursor,
    StorageSnapshot,
    UsageHour,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
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


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["at", "status_code", "error", "duration_ms", "response_excerpt"]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["url", "tenant", "active", "created_at"]
    list_filter = ["active", "tenant"]
    search_fields = ["url", "tenant__slug"]
    raw_id_fields = ["tenant", "created_by"]
    # The secret signs deliveries: nobody reads it here either.
    exclude = ["secret"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "state", "attempts", "webhook", "created_at", "delivered_at"]
    list_filter = ["state", "event"]
    search_fields = ["id", "event", "webhook__url"]
    raw_id_fields = ["webhook"]
    inlines = [WebhookAttemptInline]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ["delivery", "at", "status_code", "duration_ms"]
    list_filter = ["status_code"]
    search_fields = ["delivery__id", "error"]
    raw_id_fields = ["delivery"]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    # Raised and cleared by the alert check only (analytics.services.alerts).
    list_display = ["tenant", "kind", "threshold", "value", "raised_at", "cleared_at"]
    list_filter = ["kind", "threshold", ("cleared_at", admin.EmptyFieldListFilter), "raised_at"]
    search_fields = ["tenant__slug", "tenant__name"]
    list_select_related = ["tenant"]
    date_hierarchy = "raised_at"
