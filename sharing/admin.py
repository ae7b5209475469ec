from django.contrib import admin

from sharing.models import (
    FileGroupPermission,
    FileUserPermission,
    FolderGroupPermission,
    FolderUserPermission,
    ShareLink,
    TenantGroup,
)


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


@admin.register(TenantGroup)
class TenantGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["name"]
    list_select_related = ["tenant"]
    raw_id_fields = ["group"]


class _GrantAdmin(admin.ModelAdmin):
    list_display = ["content_object", "permission", "granted_by"]
    list_filter = ["permission", "content_object__tenant"]
    list_select_related = ["content_object", "permission", "granted_by"]
    raw_id_fields = ["content_object", "granted_by"]
    search_fields = ["permission__codename"]


@admin.register(FileUserPermission, FolderUserPermission)
class UserGrantAdmin(_GrantAdmin):
    list_display = [*_GrantAdmin.list_display, "user"]
    raw_id_fields = [*_GrantAdmin.raw_id_fields, "user"]


@admin.register(FileGroupPermission, FolderGroupPermission)
class GroupGrantAdmin(_GrantAdmin):
    list_display = [*_GrantAdmin.list_display, "group"]
    raw_id_fields = [*_GrantAdmin.raw_id_fields, "group"]
