from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group

from accounts.models import (
    ActivityEvent,
    ApiToken,
    DeletedTenant,
    Invitation,
    Membership,
    Tenant,
    TenantGroup,
    TenantUsage,
    User,
)
from accounts.selectors import with_used_bytes
from accounts.services import tenants, users
from mediaportal.admin import ReadOnlyAdmin, ServiceAdmin
from mediaportal.http import client_ip

# The admin signs in through the portal's login: the same failed-login limits, and the
# two-factor step for those who set it up.
admin.site.login = secure_admin_login(admin.site.login)


class MembershipInline(admin.TabularInline):
    """Members at a glance; roles are changed (and members removed) on the membership page,
    which keeps the last-owner rule."""

    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


# Tenant groups are auth groups underneath; they are managed through the API (sharing's group
# services keep their members inside the tenant and audit each change), so the admin shows
# them read-only: no Group pages, and a user's groups are not editable on their page.
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(ServiceAdmin, BaseUserAdmin):
    readonly_fields = ["groups", "last_login", "date_joined"]
    list_display = ["username", "email", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "date_joined"]
    search_fields = ["username", "email", "first_name", "last_name"]
    ordering = ["username"]

    def delete_model(self, request, obj: User) -> None:
        users.user_delete(actor=request.user, user=obj, ip=client_ip(request))


@admin.register(Tenant)
class TenantAdmin(ServiceAdmin):
    list_display = ["slug", "name", "quota_bytes", "used_bytes", "max_upload_bytes", "created_at"]
    search_fields = ["slug", "name"]
    list_filter = ["created_at", "search_config"]
    fields = ["slug", "name", "quota_bytes", *tenants.TENANT_SETTINGS[1:], "created_at"]
    readonly_fields = ["slug", "created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return with_used_bytes(super().get_queryset(request))

    @admin.display(description="used bytes", ordering="used_bytes")
    def used_bytes(self, tenant: Tenant) -> int:
        return tenant.used_bytes

    def has_add_permission(self, request) -> bool:
        return False  # tenants are made by their first owner (registration, the API)

    def save_model(self, request, obj: Tenant, form, change: bool) -> None:
        ip = client_ip(request)
        if "quota_bytes" in form.changed_data:
            tenants.tenant_quota_set(actor=request.user, tenant=obj, quota_bytes=obj.quota_bytes, ip=ip)
        settings = {field: form.cleaned_data[field] for field in form.changed_data if field in tenants.TENANT_SETTINGS}
        if settings:
            staff = tenants.staff_membership(user=request.user, tenant=Tenant.objects.get(pk=obj.pk))
            tenants.tenant_update(membership=staff, data=settings, ip=ip)

    def delete_model(self, request, obj: Tenant) -> None:
        tenants.tenant_delete(actor=request.user, tenant=obj, ip=client_ip(request))


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__slug", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]
    list_select_related = ["user", "tenant"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "tenant", "created_at"] if obj is not None else ["created_at"]

    def save_model(self, request, obj: Membership, form, change: bool) -> None:
        staff = tenants.staff_membership(user=request.user, tenant=obj.tenant)
        if not change:
            added = tenants.member_add(actor=staff, username=obj.user.username, role=obj.role, ip=client_ip(request))
            obj.pk = added.pk  # the admin's log entry and "added" message name the row the service made
        elif "role" in form.changed_data:
            member = Membership.objects.select_related("tenant", "user").get(pk=obj.pk)
            tenants.member_change_role(actor=staff, member=member, role=obj.role, ip=client_ip(request))

    def delete_model(self, request, obj: Membership) -> None:
        staff = tenants.staff_membership(user=request.user, tenant=obj.tenant)
        tenants.member_remove(actor=staff, member=obj, ip=client_ip(request))


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    # Invitations are made, resent and revoked by the team's owners and admins in the portal.
    list_display = ["email", "tenant", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role", "created_at", "accepted_at", "revoked_at"]
    search_fields = ["email", "tenant__slug"]
    list_select_related = ["tenant", "invited_by"]


@admin.register(ApiToken)
class ApiTokenAdmin(ServiceAdmin):
    list_display = ["name", "user", "prefix", "scope", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", "created_at", "expires_at", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    # The key itself never exists server-side; nothing here can reveal or forge one.
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "key_hash",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_select_related = ["user"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # a key is shown once, to its owner: they make tokens through the API

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked tokens stay listed, as the API shows them

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            users.token_revoke(token=token)


@admin.register(DeletedTenant)
class DeletedTenantAdmin(ReadOnlyAdmin):
    list_display = ["slug", "id", "deleted_at"]
    search_fields = ["slug", "id"]
    list_filter = ["deleted_at"]


@admin.register(TenantGroup)
class TenantGroupAdmin(ReadOnlyAdmin):
    """Groups are managed by the tenant's owners and admins through the API."""

    list_display = ["name", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["name"]
    list_select_related = ["tenant"]


@admin.register(ActivityEvent)
class ActivityEventAdmin(ReadOnlyAdmin):
    """The audit trail is append-only."""

    list_display = ["at", "tenant", "user", "verb", "target_repr", "ip"]
    list_filter = ["verb", "at", "tenant"]
    search_fields = ["verb", "target_repr", "target_id", "user__username", "ip"]
    list_select_related = ["tenant", "user"]
    date_hierarchy = "at"


@admin.register(TenantUsage)
class TenantUsageAdmin(ReadOnlyAdmin):
    """The database's triggers on the blob table keep the counts (see TenantUsage)."""

    list_display = ["tenant", "bytes"]
    search_fields = ["tenant__slug", "tenant__name"]
    list_select_related = ["tenant"]
