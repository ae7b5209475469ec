from django.contrib import admin

from sharing.models import ShareLink


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "tenant",
        "file",
        "folder",
        "created_by",
        "expires_at",
        "download_count",
        "max_downloads",
        "revoked_at",
    ]
    list_filter = ["tenant", "expires_at", "revoked_at"]
    search_fields = ["id", "file__name", "folder__path"]
    list_select_related = ["tenant", "file", "folder", "created_by"]
    readonly_fields = ["token_hash", "password_hash", "download_count", "created_at", "last_accessed_at"]
    raw_id_fields = ["file", "folder", "created_by"]
