from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address")

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique", condition=~models.Q(email="")),
        ]


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


def _default_quota() -> int:
    return settings.TENANT_DEFAULT_QUOTA_BYTES


def _default_max_upload() -> int:
    return settings.TENANT_DEFAULT_MAX_UPLOAD_BYTES


class PublicFiles(models.TextChoices):
    """Who may make a file public (visible to anyone at /p/<id>, with no link to revoke)."""

    NOBODY = "nobody", "Nobody"
    ADMINS = "admins", "Owners and admins of the tenant"
    FILE_OWNERS = "file_owners", "A file's owner, and owners and admins of the tenant"


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=120)
    quota_bytes = models.BigIntegerField(default=_default_quota)
    max_upload_bytes = models.BigIntegerField(default=_default_max_upload)
    # Files untouched this long move to the archive tier; null: never.
    archive_after_days = models.PositiveIntegerField(
        default=90, null=True, blank=True, validators=[MinValueValidator(1)]
    )
    noncurrent_archive_days = models.PositiveIntegerField(default=30)
    trash_retention_days = models.PositiveIntegerField(default=30)
    share_max_days = models.PositiveIntegerField(default=90)
    search_config = models.CharField(max_length=40, default="english")
    public_files = models.CharField(max_length=12, choices=PublicFiles.choices, default=PublicFiles.FILE_OWNERS)
    # Members without two-factor authentication get 403 `mfa_required` in this tenant.
    require_mfa = models.BooleanField(default=False)
    # Processing reads text in pictures and scanned PDFs (OCR) for this tenant's files.
    ocr_enabled = models.BooleanField(default=True)
    # What the tenant means to spend on storage a month, in settings.STORAGE_CURRENCY; null: no
    # budget. Analytics compares its cost estimate with it and raises budget alerts.
    monthly_budget = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.slug


class DeletedTenant(models.Model):
    """A tenant that was deleted: what lets the orphan sweep remove its stored objects.

    Its absence from the tenant table is not enough, since a worker pointed at the wrong
    (or an empty) database would take every tenant in the bucket for a deleted one.
    """

    id = models.UUIDField(primary_key=True, editable=False)
    slug = models.SlugField(max_length=50)
    deleted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-deleted_at"]

    def __str__(self) -> str:
        return self.slug


class TenantUsage(models.Model):
    """Changes of a tenant's stored bytes; their sum is its usage, which its quota bounds
    (shared content counted once).

    Statement triggers on files_blob (files/sql/usage/) add one row per tenant for each
    statement that adds, removes or resizes blobs, in that statement's transaction. Rows are
    only ever inserted there, so counting takes no lock that uploads or purges would wait
    for; the quota check and the fold after a purge (files.services.quota) fold a tenant's
    rows into one once they pile up. Only the triggers and that fold write here. The
    database deletes the rows with their tenant (ON DELETE CASCADE, as blob deletes during a
    tenant's deletion add rows after Django collected them). A data dump to load elsewhere
    leaves it out (`dumpdata --exclude accounts.TenantUsage`): loading the blobs counts them
    again.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.DO_NOTHING, db_constraint=False, related_name="usage")
    bytes = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.bytes:+} B"


class Membership(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    # Given by the single sign-on group mapping, which re-checks it at every sign-in (and
    # leaves memberships people gave by hand alone).
    sso_managed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user_unique")]
        indexes = [models.Index(fields=["tenant", "role"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"


class TokenScope(models.TextChoices):
    """What a token may do: `read` keys answer 403 `read_only_token` on any unsafe method."""

    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class ApiToken(models.Model):
    """An API key; only its SHA-256 is stored, the key itself is shown once at creation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=5, choices=TokenScope.choices, default=TokenScope.WRITE)
    # A token restricted to one tenant sees no other (they answer 404 as for a non-member).
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and self.expires_at > now


class Invitation(models.Model):
    """An invitation to join a tenant with a role, mailed as a single-use link.

    Only the SHA-256 of the link's token is stored. It is accepted by a signed-in user whose
    verified e-mail address is the invited one, once, before `expires_at`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per address and tenant: inviting again resends it.
            models.UniqueConstraint(
                "tenant",
                Lower("email"),
                name="invitation_open_unique",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant} ({self.role})"

    @property
    def state(self) -> str:
        """`open`, `accepted`, `revoked` or `expired`: computed when read, so an invitation
        is expired the moment its time passes."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "open" if self.expires_at > timezone.now() else "expired"


class TenantGroup(models.Model):
    """A named set of a tenant's members that permissions can be granted to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="tenant_group")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("tenant", Lower("name"), name="tenant_group_name_unique")]

    def __str__(self) -> str:
        return self.name


class ActivityEvent(models.Model):
    """One thing somebody did: the audit trail and the source of activity analytics.

    It lives here, at the bottom of the app layers, because every app's services write one
    in the transaction of the change they describe (`accounts.services.audit.event_record`).
    """

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
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
            # One object's events: a file page's activity, a share link's opens.
            models.Index(fields=["tenant", "target_type", "target_id", "-at"], name="event_tenant_target_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.verb} {self.target_repr}"


@receiver(post_delete, sender=Tenant)
def _remember_deleted_tenant(sender, instance: Tenant, **kwargs) -> None:
    DeletedTenant.objects.get_or_create(id=instance.id, defaults={"slug": instance.slug})
