from django.contrib import admin

from analytics.models import ActivityEvent


@admin.register(ActivityEvent)
class ActivityEventAdmin(admin.ModelAdmin):
    list_display = ["at", "tenant", "user", "verb", "target_repr", "ip"]
    list_filter = ["verb", "at", "tenant"]
    search_fields = ["verb", "target_repr", "target_id", "user__username", "ip"]
    list_select_related = ["tenant", "user"]
    date_hierarchy = "at"

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the audit trail is append-only
