from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ActivityEvent(models.Model):
    """One thing somebody did: the audit trail and the source of activity analytics."""

    tenant = models.ForeignKey("accounts.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=60)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["tenant", "-at"], name="event_tenant_at"),
            models.Index(fields=["tenant", "verb", "-at"], name="event_tenant_verb_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.verb} {self.target_repr}"
