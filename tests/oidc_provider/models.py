from __future__ import annotations

from django.conf import settings
from django.db import models


class Profile(models.Model):
    """What the provider says about a user's address (the `email_verified` claim)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    email_verified = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user} ({'verified' if self.email_verified else 'unverified'})"
