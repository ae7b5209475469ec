from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


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
    # Share receipts: the creator may be mailed when the page is first opened, which
    # `first_opened_at` marks (set once, by the open that finds it empty).
    notify_on_first_open = models.BooleanField(default=False)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    # When that mail went: the task claims it by setting this, so a task run twice mails once.
    first_open_notified_at = models.DateTimeField(null=True, blank=True)

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
