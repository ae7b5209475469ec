from django.contrib import admin, messages
from django.utils.html import format_html

from accounts.services.tenants import staff_membership
from files.models import (
    Blob,
    Export,
    File,
    FileGroupPermission,
    FileUserPermission,
    FileVersion,
    Folder,
    FolderGroupPermission,
    FolderUserPermission,
    ImageFingerprint,
    OcrPage,
    Rendition,
    SearchTerm,
    UploadKey,
    UploadSession,
)
from files.selectors import thumbnail_renditions
from files.services.bulk import BulkResult, files_bulk_reprocess, files_bulk_trash
from files.services.files import file_update
from files.services.folders import folder_update
from files.services.replication import replication_lag_seconds
from files.services.thumbnails import thumbnail_urls
from files.services.trash import file_delete_permanently, folder_delete_permanently, trash_purge
from mediaportal.admin import ReadOnlyAdmin, ServiceAdmin
from mediaportal.http import client_ip


class IntegrityFilter(admin.SimpleListFilter):
    """Whether the stored bytes have an intact copy left (the scrub flags those that do not)."""

    title = "integrity"
    parameter_name = "integrity"
    lost_at = "integrity_lost_at"

    def lookups(self, request, model_admin):
        return [("lost", "Lost: no intact copy"), ("intact", "Intact")]

    def queryset(self, request, queryset):
        if self.value() in ("lost", "intact"):
            return queryset.filter(**{f"{self.lost_at}__isnull": self.value() == "intact"})
        return queryset


class FileIntegrityFilter(IntegrityFilter):
    lost_at = "current_version__blob__integrity_lost_at"


def _changes(form, fields: list[str]) -> dict:
    """The edited fields as a service takes them (related objects by id)."""
    data = {}
    for field in form.changed_data:
        if field in fields:
            value = form.cleaned_data[field]
            data[field] = getattr(value, "pk", value)
    return data


@admin.register(Folder)
class FolderAdmin(ServiceAdmin):
    """Renaming and moving rewrite the paths below; deleting purges the folder with what is in it."""

    list_display = ["path", "tenant", "created_by", "created_at", "deleted_at"]
    list_filter = ["tenant", "created_at", "deleted_at"]
    search_fields = ["name", "path"]
    list_select_related = ["tenant", "created_by"]
    raw_id_fields = ["parent"]
    fields = ["tenant", "name", "parent", "path", "created_by", "created_at", "deleted_at", "deleted_by"]
    readonly_fields = ["tenant", "path", "created_by", "created_at", "deleted_at", "deleted_by"]

    def has_add_permission(self, request) -> bool:
        return False  # folders are made in the portal and the API, by members

    def save_model(self, request, obj: Folder, form, change: bool) -> None:
        data = _changes(form, ["name", "parent"])
        if data:
            staff = staff_membership(user=request.user, tenant=obj.tenant)
            folder_update(membership=staff, folder_id=obj.pk, data=data, ip=client_ip(request))

    def delete_model(self, request, obj: Folder) -> None:
        staff = staff_membership(user=request.user, tenant=obj.tenant)
        if obj.deleted_at is None:
            folder_delete_permanently(membership=staff, folder_id=obj.pk, ip=client_ip(request))
        else:
            trash_purge(membership=staff, item_id=obj.pk, ip=client_ip(request))


class VersionInline(admin.TabularInline):
    model = FileVersion
    extra = 0
    fields = ["number", "blob", "uploaded_by", "created_at", "comment"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


FILE_EDITABLE = ["name", "folder", "description", "tags", "visibility"]


@admin.register(File)
class FileAdmin(ServiceAdmin):
    """Edits go through the file service (renames and moves check names, visibility its
    values); deleting purges the file and frees its bytes as the trash does."""

    list_display = [
        "thumbnail",
        "name",
        "tenant",
        "owner",
        "content_type",
        "size",
        "status",
        "visibility",
        "integrity_lost",
        "created_at",
        "deleted_at",
    ]
    list_filter = ["status", "visibility", FileIntegrityFilter, "tenant", "created_at", "deleted_at"]
    search_fields = ["name", "description", "sha256", "id"]
    list_select_related = ["tenant", "owner"]
    raw_id_fields = ["folder"]
    fields = [
        "tenant",
        *FILE_EDITABLE,
        "owner",
        "status",
        "error",
        "sha256",
        "size",
        "content_type",
        "labels",
        "metadata",
        "created_at",
        "updated_at",
        "last_accessed_at",
        "deleted_at",
    ]
    readonly_fields = [field for field in fields if field not in FILE_EDITABLE]
    inlines = [VersionInline]
    actions = ["reprocess", "move_to_trash"]

    def get_queryset(self, request):
        # The thumbnails of a page of files in one query, not one per row.
        queryset = super().get_queryset(request).select_related("current_version__blob")
        return queryset.prefetch_related(thumbnail_renditions())

    @admin.display(description="Integrity lost", boolean=True)
    def integrity_lost(self, obj: File) -> bool:
        """No intact copy of the current version's bytes is left (files.services.scrub)."""
        return bool(obj.current_version_id and obj.current_version.blob.integrity_lost_at)

    @admin.display(description="Thumbnail")
    def thumbnail(self, obj: File) -> str:
        urls = thumbnail_urls(file=obj) if obj.deleted_at is None else {}
        url = urls.get("jpeg") or urls.get("webp")
        return format_html('<img src="{}" alt="" width="64" loading="lazy">', url) if url else "–"

    def _per_tenant(self, request, queryset, act, verb: str) -> None:
        """Run a bulk service per tenant with an owner's rights there; report what it did."""
        result = BulkResult()
        by_tenant: dict = {}
        for file in queryset.select_related("tenant"):
            by_tenant.setdefault(file.tenant_id, []).append(file)
        for files in by_tenant.values():
            staff = staff_membership(user=request.user, tenant=files[0].tenant)
            done = act(membership=staff, files=files, ip=client_ip(request))
            result.done += done.done
            result.refused += done.refused
        self.message_user(request, result.summary(verb), level=messages.WARNING if result.refused else messages.SUCCESS)

    @admin.action(description="Reprocess selected files")
    def reprocess(self, request, queryset) -> None:
        self._per_tenant(
            request, queryset.filter(deleted_at__isnull=True), files_bulk_reprocess, "queued for processing"
        )

    @admin.action(description="Move selected files to the trash")
    def move_to_trash(self, request, queryset) -> None:
        self._per_tenant(request, queryset.filter(deleted_at__isnull=True), files_bulk_trash, "moved to the trash")

    def has_add_permission(self, request) -> bool:
        return False  # files arrive by upload

    def save_model(self, request, obj: File, form, change: bool) -> None:
        data = _changes(form, FILE_EDITABLE)
        if data:
            staff = staff_membership(user=request.user, tenant=obj.tenant)
            file_update(membership=staff, file_id=obj.pk, data=data, ip=client_ip(request))

    def delete_model(self, request, obj: File) -> None:
        staff = staff_membership(user=request.user, tenant=obj.tenant)
        if obj.deleted_at is None:
            file_delete_permanently(membership=staff, file_id=obj.pk, ip=client_ip(request))
        else:
            trash_purge(membership=staff, item_id=obj.pk, ip=client_ip(request))


@admin.register(Blob)
class BlobAdmin(ReadOnlyAdmin):
    """Stored content goes when the last version using it is purged."""

    list_display = [
        "sha256",
        "tenant",
        "size",
        "content_type",
        "tier",
        "created_at",
        "replicated_at",
        "verified_at",
        "integrity_lost_at",
    ]
    list_filter = ["tier", IntegrityFilter, ("replicated_at", admin.EmptyFieldListFilter), "tenant", "created_at"]
    search_fields = ["sha256", "storage_key"]
    list_select_related = ["tenant"]

    def changelist_view(self, request, extra_context=None):
        # The replication lag where staff look at stored content (also a metric, later).
        lag = replication_lag_seconds()
        subtitle = f"Replication lag: {lag:.0f} s (oldest blob not yet in the replica region)"
        return super().changelist_view(request, {"subtitle": subtitle, **(extra_context or {})})


@admin.register(FileVersion)
class FileVersionAdmin(ReadOnlyAdmin):
    """History is never rewritten."""

    list_display = ["file", "number", "tenant", "uploaded_by", "created_at"]
    list_filter = ["tenant", "created_at"]
    search_fields = ["file__name", "comment"]
    list_select_related = ["file", "tenant", "uploaded_by"]


@admin.register(UploadSession)
class UploadSessionAdmin(ReadOnlyAdmin):
    list_display = ["filename", "tenant", "created_by", "size", "state", "created_at", "expires_at"]
    list_filter = ["state", "tenant", "created_at"]
    search_fields = ["filename", "staging_key"]
    list_select_related = ["tenant", "created_by"]


@admin.register(UploadKey)
class UploadKeyAdmin(ReadOnlyAdmin):
    list_display = ["key", "tenant", "user", "file", "version", "created_at"]
    list_filter = ["tenant", "created_at"]
    search_fields = ["key", "file__name"]
    list_select_related = ["tenant", "user", "file", "version"]


@admin.register(Rendition)
class RenditionAdmin(ReadOnlyAdmin):
    list_display = ["blob", "kind", "format", "width", "height", "size", "tenant", "created_at"]
    list_filter = ["kind", "format", "tenant"]
    search_fields = ["blob__sha256", "storage_key"]
    list_select_related = ["blob", "tenant"]


@admin.register(ImageFingerprint)
class ImageFingerprintAdmin(ReadOnlyAdmin):
    """Written by processing and the `fingerprint_images` command (files.services.similar)."""

    list_display = ["blob", "width", "height", "format", "quality", "has_exif", "group_id", "tenant", "created_at"]
    list_filter = ["format", "has_exif", "tenant"]
    search_fields = ["blob__sha256"]
    list_select_related = ["blob", "tenant"]
    exclude = ["grid"]


@admin.register(OcrPage)
class OcrPageAdmin(ReadOnlyAdmin):
    """Text OCR read on a page of a version; processing writes it (reprocess the file to redo it)."""

    list_display = ["version", "number", "confidence", "engine", "tenant", "created_at"]
    list_filter = ["tenant", "engine"]
    search_fields = ["text", "version__file__name"]
    list_select_related = ["version", "tenant"]
    raw_id_fields = ["version"]


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    """Exports are made by their task and expire on their own (files.services.exports)."""

    list_display = ["id", "tenant", "state", "file_count", "size", "created_by", "created_at", "expires_at"]
    list_filter = ["state", "tenant", "created_at"]
    search_fields = ["id", "error"]
    list_select_related = ["tenant", "created_by"]


@admin.register(SearchTerm)
class SearchTermAdmin(ReadOnlyAdmin):
    list_display = ["term", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["term"]
    list_select_related = ["tenant"]


class _GrantAdmin(ReadOnlyAdmin):
    """Grants are made and revoked in the API and the portal, which check who may grant what."""

    list_display = ["content_object", "permission", "granted_by"]
    list_filter = ["permission", "content_object__tenant"]
    list_select_related = ["content_object", "permission", "granted_by"]
    search_fields = ["permission__codename"]


@admin.register(FileUserPermission, FolderUserPermission)
class UserGrantAdmin(_GrantAdmin):
    list_display = [*_GrantAdmin.list_display, "user"]


@admin.register(FileGroupPermission, FolderGroupPermission)
class GroupGrantAdmin(_GrantAdmin):
    list_display = [*_GrantAdmin.list_display, "group"]
