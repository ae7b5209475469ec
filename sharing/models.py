from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class ShareLink(models.Model):
    """A link anyone can use to reach one file or folder until it expires or is revoked.

    Only the SHA-256 of the token is stored: the token itself is shown once, at creation.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    file = models.ForeignKey("files.File", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey("files.Folder", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    password_hash = models.CharField(max_length=200, blank=True)
    max_downloads = models.PositiveIntegerField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)
    # A "file request": visitors may add files to the folder and see nothing in it.
    allow_upload = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_accessed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="share_tenant_created")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(file__isnull=False, folder__isnull=True)
                | models.Q(file__isnull=True, folder__isnull=False),
                name="share_one_target",
            )
        ]

    def __str__(self) -> str:
        return f"share of {self.file_id or self.folder_id}"

    @property
    def state(self) -> str:
        """Computed when read, so a link is `expired` the moment its time passes."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        if self.max_downloads is not None and self.download_count >= self.max_downloads:
            return "exhausted"
        return "active"


# --- Object permissions (django-guardian, with direct foreign keys) ----------------------
# Direct-FK tables instead of guardian's generic one: visibility is then an indexed join
# on real foreign keys, not a text comparison of object ids.


def _granted_by() -> models.ForeignKey:
    # Who made the grant: they may manage it, and a folder grant reaches no further than what
    # its grantor could see (sharing.selectors). Null only on grants made before this was
    # recorded. CASCADE, not SET_NULL, so deleting a user never turns their grants into
    # unbounded ones.
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )


class FileUserPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey("files.File", on_delete=models.CASCADE)
    granted_by = _granted_by()


class FileGroupPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey("files.File", on_delete=models.CASCADE)
    granted_by = _granted_by()


class FolderUserPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey("files.Folder", on_delete=models.CASCADE)
    granted_by = _granted_by()


class FolderGroupPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey("files.Folder", on_delete=models.CASCADE)
    granted_by = _granted_by()


class TenantGroup(models.Model):
    """A named set of a tenant's members that permissions can be granted to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="tenant_group")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("tenant", Lower("name"), name="tenant_group_name_unique")]

    def __str__(self) -> str:
        return self.name
