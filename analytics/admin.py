from django.contrib import admin
from django.db import models

from analytics.models import Webhook, WebhookAttempt, WebhookDelivery


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
