"""Building blocks for admin pages that write through the services.

The admin site is for the platform's staff, but it keeps every rule the API keeps: an admin
page that changes something calls the service the API calls (with the staff member acting
as an owner of the tenant, see `accounts.services.tenants.staff_membership`), and shows
the fields no service changes as read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from mediaportal.exceptions import ApplicationError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only the product's own code writes: listed and shown, never edited here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ServiceAdmin(admin.ModelAdmin):
    """A page whose saves and deletes call services. What a service refuses (the last owner,
    a name taken, files that may not be deleted) is shown as an error and changes nothing."""

    def _refused(self, request, exc: ApplicationError, url: str) -> HttpResponseRedirect:
        self.message_user(request, exc.detail, level=messages.ERROR)
        return HttpResponseRedirect(url)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            return self._refused(request, exc, request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:
            opts = self.model._meta
            return self._refused(
                request, exc, reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            )

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except ApplicationError as exc:
            return self._refused(request, exc, request.get_full_path())

    def get_deleted_objects(self, objs, request):
        # What a delete takes with it (versions, grants, renditions) is the service's to decide;
        # those rows are read-only in the admin, which must not refuse the delete for that.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_queryset(self, request, queryset) -> None:
        # All or nothing, like the admin's own bulk delete: one refusal undoes the others. A
        # selection may hold a folder and what is in it: what an earlier delete took is skipped.
        with transaction.atomic():
            for obj in queryset:
                if type(obj).objects.filter(pk=obj.pk).exists():
                    self.delete_model(request, obj)
