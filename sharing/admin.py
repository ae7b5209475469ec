from django.contrib import admin

from accounts.services.tenants import staff_membership
from mediaportal.admin import ServiceAdmin
from mediaportal.http import client_ip
from sharing.models import ShareLink
from sharing.services.links import share_revoke


@admin.register(ShareLink)
class ShareLinkAdmin(ServiceAdmin):
    """Links are made by members (who choose expiry, password and limit); here they are
    listed and revoked, and a revoked link stays listed, as the API shows it."""

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
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # The change page stays closed (links are edited by members); revoking is a change.
        return obj is None and super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in ShareLink._meta.fields]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected links", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        for link in queryset.select_related("tenant"):
            staff = staff_membership(user=request.user, tenant=link.tenant)
            share_revoke(membership=staff, share_id=link.pk, ip=client_ip(request))
