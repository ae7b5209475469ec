from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.forms import AdminLoginForm
from accounts.models import ActivityEvent, ApiToken, DeletedTenant, Membership, Tenant, TenantGroup, User
from accounts.selectors import with_used_bytes

# The admin's login counts against the same failed-login limits as the API's and the portal's.
admin.site.login_form = AdminLoginForm


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "date_joined"]
    search_fields = ["username", "email", "first_name", "last_name"]
    ordering = ["username"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "quota_bytes", "used_bytes", "max_upload_bytes", "created_at"]
    search_fields = ["slug", "name"]
    list_filter = ["created_at", "search_config"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return with_used_bytes(super().get_queryset(request))

    @admin.display(description="used bytes", ordering="used_bytes")
    def used_bytes(self, tenant: Tenant) -> int:
        return tenant.used_bytes


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__slug", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]
    list_select_related = ["user", "tenant"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["created_at", "expires_at", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    # The key itself never exists server-side; nothing here can reveal or forge one.
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]
    list_select_related = ["user"]


@admin.register(DeletedTenant)
class DeletedTenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "id", "deleted_at"]
    search_fields = ["slug", "id"]
    list_filter = ["deleted_at"]
    readonly_fields = ["id", "slug", "deleted_at"]


@admin.register(TenantGroup)
class TenantGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["name"]
    list_select_related = ["tenant"]
    raw_id_fields = ["group"]


@admin.register(ActivityEvent)
class ActivityEventAdmin(admin.ModelAdmin):
    list_display = ["at", "tenant", "user", "verb", "target_repr", "ip"]
    list_filter = ["verb", "at", "tenant"]
    search_fields = ["verb", "target_repr", "target_id", "user__username", "ip"]
    list_select_related = ["tenant", "user"]
    date_hierarchy = "at"

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the audit trail is append-only
