from django.contrib import admin

from files.models import (
    Blob,
    File,
    FileGroupPermission,
    FileUserPermission,
    FileVersion,
    Folder,
    FolderGroupPermission,
    FolderUserPermission,
    Rendition,
    SearchTerm,
    TenantUsage,
    UploadSession,
)


@admin.register(Folder)
class FolderAdmin(admin.ModelAdmin):
    list_display = ["path", "tenant", "created_by", "created_at", "deleted_at"]
    list_filter = ["tenant", "created_at", "deleted_at"]
    search_fields = ["name", "path"]
    list_select_related = ["tenant", "created_by"]
    raw_id_fields = ["parent", "trashed_via", "created_by", "deleted_by"]


class VersionInline(admin.TabularInline):
    model = FileVersion
    extra = 0
    fields = ["number", "blob", "uploaded_by", "created_at", "comment"]
    readonly_fields = fields
    can_delete = False


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "tenant",
        "owner",
        "content_type",
        "size",
        "status",
        "visibility",
        "created_at",
        "deleted_at",
    ]
    list_filter = ["status", "visibility", "tenant", "created_at", "deleted_at"]
    search_fields = ["name", "description", "sha256", "id"]
    list_select_related = ["tenant", "owner"]
    raw_id_fields = ["folder", "owner", "current_version", "deleted_by", "trashed_via"]
    readonly_fields = ["sha256", "size", "content_type", "created_at", "updated_at", "last_accessed_at"]
    inlines = [VersionInline]


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ["sha256", "tenant", "size", "content_type", "tier", "created_at", "replicated_at", "verified_at"]
    list_filter = ["tier", "tenant", "created_at"]
    search_fields = ["sha256", "storage_key"]
    list_select_related = ["tenant"]
    readonly_fields = ["sha256", "size", "storage_key", "created_at"]


@admin.register(FileVersion)
class FileVersionAdmin(admin.ModelAdmin):
    list_display = ["file", "number", "tenant", "uploaded_by", "created_at"]
    list_filter = ["tenant", "created_at"]
    search_fields = ["file__name", "comment"]
    list_select_related = ["file", "tenant", "uploaded_by"]
    raw_id_fields = ["file", "blob", "uploaded_by"]


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    list_display = ["filename", "tenant", "created_by", "size", "state", "created_at", "expires_at"]
    list_filter = ["state", "tenant", "created_at"]
    search_fields = ["filename", "staging_key"]
    list_select_related = ["tenant", "created_by"]
    raw_id_fields = ["file", "created_by"]


@admin.register(Rendition)
class RenditionAdmin(admin.ModelAdmin):
    list_display = ["blob", "kind", "format", "width", "height", "size", "tenant", "created_at"]
    list_filter = ["kind", "format", "tenant"]
    search_fields = ["blob__sha256", "storage_key"]
    list_select_related = ["blob", "tenant"]
    raw_id_fields = ["blob"]


@admin.register(SearchTerm)
class SearchTermAdmin(admin.ModelAdmin):
    list_display = ["term", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["term"]
    list_select_related = ["tenant"]


@admin.register(TenantUsage)
class TenantUsageAdmin(admin.ModelAdmin):
    """Read only: the database's triggers keep the counts (see TenantUsage)."""

    list_display = ["tenant", "bytes"]
    search_fields = ["tenant__slug", "tenant__name"]
    list_select_related = ["tenant"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class _GrantAdmin(admin.ModelAdmin):
    """Read only: grants are made and revoked through the API and the portal, which check who
    may grant what (files.permissions)."""

    list_display = ["content_object", "permission", "granted_by"]
    list_filter = ["permission", "content_object__tenant"]
    list_select_related = ["content_object", "permission", "granted_by"]
    search_fields = ["permission__codename"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FileUserPermission, FolderUserPermission)
class UserGrantAdmin(_GrantAdmin):
    list_display = [*_GrantAdmin.list_display, "user"]


@admin.register(FileGroupPermission, FolderGroupPermission)
class GroupGrantAdmin(_GrantAdmin):
    list_display = [*_GrantAdmin.list_display, "group"]
