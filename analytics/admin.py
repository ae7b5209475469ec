from __future__ import annotations

from django.contrib import admin

from analytics.models import Alert
from mediaportal.admin import ReadOnlyAdmin


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    # Raised and cleared by the alert check only (analytics.services.alerts).
    list_display = ["tenant", "kind", "threshold", "value", "raised_at", "cleared_at"]
    list_filter = ["kind", "threshold", ("cleared_at", admin.EmptyFieldListFilter), "raised_at"]
    search_fields = ["tenant__slug", "tenant__name"]
    list_select_related = ["tenant"]
    date_hierarchy = "raised_at"
