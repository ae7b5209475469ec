from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class Folder(models.Model):
    """A folder; `path` is the materialised chain of names ("/Photos/2024/") so a subtree
    is one indexed prefix query.

    Trashing a folder moves its subtree out of the live namespace: every path in it gets the
    trash entry's id in front ("<id>:/Photos/2024/"). A new live "/Photos/" can then never
    share a prefix with the trashed one, so prefix queries, grants, renames, restores and
    purges can't mix the two up.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    name = models.CharField(max_length=255)
    path = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set on everything trashed together with a folder, so restoring that folder brings back
    # exactly what went with it (and not items someone had trashed on their own before).
    trashed_via = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="trashed_folders"
    )

    class Meta:
        permissions = [("share_folder", "Can share folder")]
        constraints = [
            models.UniqueConstraint(
                "tenant",
                "parent",
                Lower("name"),
                name="folder_sibling_name_unique",
                condition=models.Q(deleted_at__isnull=True),
                nulls_distinct=False,
            )
        ]
        indexes = [
            # text_pattern_ops so `path LIKE '/a/b/%'` uses the index whatever the collation.
            models.Index(
                fields=["tenant", "path"], name="folder_tenant_path", opclasses=["uuid_ops", "text_pattern_ops"]
            ),
            models.Index(fields=["tenant", "parent"], name="folder_tenant_parent"),
            models.Index(fields=["tenant", "deleted_at"], name="folder_tenant_deleted"),
        ]

    def __str__(self) -> str:
        return self.display_path

    @property
    def display_path(self) -> str:
        """The path people see: where the folder is, or was when it was trashed."""
        return self.path if self.path.startswith("/") else self.path.partition(TRASH_PATH_SEPARATOR)[2]


# Between a trashed subtree's id and its original path. Uuids have no colon, so the first
# colon ends the prefix; live paths always start with "/".
TRASH_PATH_SEPARATOR = ":"


def trashed_path_prefix(entry_id) -> str:
    return f"{entry_id}{TRASH_PATH_SEPARATOR}"


class BlobTier(models.TextChoices):
    HOT = "hot"
    ARCHIVE = "archive"
    RETRIEVING = "retrieving"


class Blob(models.Model):
    """Stored bytes, once per distinct content per tenant (dedup never crosses tenants).

    The object lives under `storage_key` in the primary bucket while `tier` is hot, and under
    the same key in the archive bucket while it is archive or retrieving (files.services.
    lifecycle); its copy in the replica region, under the same key again, is there once
    `replicated_at` is set (files.services.replication).
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=255)
    storage_key = models.CharField(max_length=500)
    tier = models.CharField(max_length=12, choices=BlobTier.choices, default=BlobTier.HOT)
    created_at = models.DateTimeField(default=timezone.now)
    # When it moved to the archive tier; null while hot.
    archived_at = models.DateTimeField(null=True, blank=True)
    # When a retrieval was asked for (tier retrieving); null otherwise.
    retrieval_started_at = models.DateTimeField(null=True, blank=True)
    replicated_at = models.DateTimeField(null=True, blank=True)
    # When the scrub last found the stored bytes intact.
    verified_at = models.DateTimeField(null=True, blank=True)
    # Set when the scrub found no intact copy anywhere (primary, archive or replica): the
    # file is flagged for admins. Cleared when an intact copy is stored again.
    integrity_lost_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "sha256"], name="blob_tenant_sha256_unique")]
        indexes = [
            # The archive sweep's candidates and the retrieval task's work, per tenant.
            models.Index(fields=["tenant", "tier"], name="blob_tenant_tier"),
            # Replication's backlog: small, so the reconcile and the lag metric stay cheap.
            models.Index(
                fields=["created_at"], name="blob_unreplicated", condition=models.Q(replicated_at__isnull=True)
            ),
            models.Index(
                fields=["tenant"], name="blob_integrity_lost", condition=models.Q(integrity_lost_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size} B)"


class Visibility(models.TextChoices):
    PRIVATE = "private"
    TENANT = "tenant"
    PUBLIC = "public"


class FileStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class File(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="files")
    name = models.CharField(max_length=255)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    current_version = models.ForeignKey(
        "FileVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Copied from the current version's blob so lists filter and sort without a join.
    size = models.BigIntegerField(default=0)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    sha256 = models.CharField(max_length=64, blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.TENANT)
    description = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    labels = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=FileStatus.choices, default=FileStatus.PENDING)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Text extracted by processing (bounded by PROCESSING_MAX_TEXT_CHARS); search indexes it.
    content_text = models.TextField(blank=True)
    # Text OCR recognised in the current version (its pages: OcrPage); search indexes it too.
    ocr_text = models.TextField(blank=True)
    # Weighted full-text vectors, maintained by a database trigger (migrations 0003, 0006) on
    # every write of the columns they are made from, whatever code path does the write.
    # `search_vector` is everything (for matching); `search_head` only the name, tags,
    # labels, description and metadata: small and kept in the row, so the best-ranked
    # matches are found without reading the extracted text's vector.
    search_vector = SearchVectorField(null=True, editable=False)
    search_head = SearchVectorField(null=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # When the file was last *touched*: its bytes downloaded (any version), a version added,
    # or restored from the trash or retrieved from the archive. Rendition views, metadata
    # reads and edits do not count. The archive sweep reads it (null: since created_at).
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trashed_via = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="trashed_files"
    )

    class Meta:
        permissions = [("share_file", "Can share file")]
        constraints = [
            models.UniqueConstraint(
                "tenant",
                "folder",
                Lower("name"),
                name="file_folder_name_unique",
                condition=models.Q(deleted_at__isnull=True),
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "folder", "-created_at"], name="file_tenant_folder_created"),
            models.Index(fields=["tenant", "-created_at"], name="file_tenant_created"),
            # Only the trash: a full (tenant, deleted_at) index is as good as any other
            # tenant index to the planner, which then picked it over the full-text GIN for
            # common words and read every matching row's text vector.
            models.Index(
                fields=["tenant", "deleted_at"],
                name="file_tenant_trashed",
                condition=models.Q(deleted_at__isnull=False),
            ),
            GinIndex(fields=["tags"], name="file_tags_gin"),
            # Browsing a folder sorted by one of these (files.selectors.file_browse_page): a
            # keyset page is a range scan of live files, however large the folder. Sorting by
            # name uses the unique constraint's index on (tenant, folder, lower(name)).
            *(
                models.Index(
                    fields=["tenant", "folder", key, "id"],
                    name=f"file_browse_{key}",
                    condition=models.Q(deleted_at__isnull=True),
                )
                for key in ("updated_at", "size", "content_type")
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FileVersion(models.Model):
    """One upload of a file's content; history is append-only (restore adds a version)."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # RESTRICT, not PROTECT: a blob never goes while a version uses it, but deleting a whole
    # tenant (whose versions and blobs both cascade from it) may take both.
    blob = models.ForeignKey(Blob, on_delete=models.RESTRICT, related_name="versions")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    comment = models.CharField(max_length=500, blank=True)
    # Processing runs of this version that started and never reported back: stopped at the
    # hard time limit, or their worker killed or lost. A run that returns (a transient error
    # included) does not count; an outcome (completed, failed) starts the count again.
    # PROCESSING_MAX_ATTEMPTS of them fail the file (files/services/processing.py).
    processing_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "number"], name="version_file_number_unique")]
        indexes = [models.Index(fields=["tenant", "blob"], name="version_tenant_blob")]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"{self.file_id} v{self.number}"


# The indexed 16-bit bands of ImageFingerprint's hashes.
BAND_COLUMNS = ("p0", "p1", "p2", "p3", "d0", "d1", "d2", "d3")


class ImageFingerprint(models.Model):
    """Perceptual hashes of an image blob (files.processing.similar), for near-duplicates.

    Found by multi-index hashing: each 64-bit hash is cut into four 16-bit bands (`p0`-`p3`
    of the pHash, `d0`-`d3` of the dHash), each indexed with the tenant. Two hashes within
    distance 7 share a band within distance 1 (pigeonhole), so a search looks up each band's
    17 neighbours and checks the candidates' full distances (files.selectors_similar).
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    blob = models.OneToOneField(Blob, on_delete=models.CASCADE, related_name="fingerprint")
    phash = models.BigIntegerField()
    dhash = models.BigIntegerField()
    colour = models.BigIntegerField()
    # The 8×8 grey grid, a byte a cell: checked, never searched.
    grid = models.BinaryField(max_length=64)
    p0 = models.IntegerField()
    p1 = models.IntegerField()
    p2 = models.IntegerField()
    p3 = models.IntegerField()
    d0 = models.IntegerField()
    d1 = models.IntegerField()
    d2 = models.IntegerField()
    d3 = models.IntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=16, blank=True)
    # JPEG quality estimated from the quantisation tables; null for other formats.
    quality = models.PositiveSmallIntegerField(null=True, blank=True)
    has_exif = models.BooleanField(default=False)
    # Fingerprints found similar share a group (the smallest id among them); the duplicates
    # list is the groups holding more than one live file.
    group_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            *(models.Index(fields=["tenant", band], name=f"fingerprint_{band}") for band in BAND_COLUMNS),
            models.Index(fields=["tenant", "group_id"], name="fingerprint_group"),
        ]

    def __str__(self) -> str:
        return f"fingerprint of {self.blob_id}"


class RenditionKind(models.TextChoices):
    THUMBNAIL = "thumbnail"
    MEDIUM = "medium"
    LARGE = "large"
    OPTIMIZED = "optimized"
    # A scanned PDF with the text OCR read as an invisible layer (format "pdf").
    SEARCHABLE = "searchable"


class Rendition(models.Model):
    """A derived image of a blob; duplicates of the same bytes share it."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="renditions")
    kind = models.CharField(max_length=12, choices=RenditionKind.choices)
    format = models.CharField(max_length=8)  # webp | jpeg; pdf for `searchable`
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.BigIntegerField()
    storage_key = models.CharField(max_length=500)
    # Of the rendition's bytes (blank on rows older than this field: their objects' metadata
    # has it).
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    replicated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blob", "kind", "format"], name="rendition_blob_kind_format_unique")
        ]
        indexes = [
            models.Index(fields=["tenant", "blob"], name="rendition_tenant_blob"),
            models.Index(
                fields=["created_at"], name="rendition_unreplicated", condition=models.Q(replicated_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}.{self.format} of {self.blob_id}"


class OcrPage(models.Model):
    """Text OCR recognised on one page of a version (a picture is one page).

    `lines` is `[{"text", "confidence", "box", "words": [{"text", "box"}]}]`, boxes as
    fractions of the page (files/processing/ocr.py); the version's file keeps the text of
    all its pages in `ocr_text` for search, and a summary in `metadata["ocr"]`.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(FileVersion, on_delete=models.CASCADE, related_name="ocr_pages")
    number = models.PositiveIntegerField()  # from 1, the page of the document
    width = models.PositiveIntegerField()  # of the picture read
    height = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    lines = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    engine = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "number"], name="ocrpage_version_number_unique")]
        indexes = [models.Index(fields=["tenant", "version"], name="ocrpage_tenant_version")]
        ordering = ["version", "number"]

    def __str__(self) -> str:
        return f"page {self.number} of {self.version}"


class UploadState(models.TextChoices):
    PENDING = "pending"
    COMPLETED = "completed"
    EXPIRED = "expired"


class UploadSession(models.Model):
    """A direct-to-S3 upload: the browser sends the bytes to a staging key, then completes.

    Either in one presigned POST, or, with `multipart_id` set, as an S3 multipart upload whose
    parts the browser PUTs (resumable: S3 lists the parts it holds). `parts_assembled` is set
    once S3 has joined the parts into the staged object (a retried complete skips that step).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=255, blank=True)
    staging_key = models.CharField(max_length=500)
    state = models.CharField(max_length=10, choices=UploadState.choices, default=UploadState.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    file = models.ForeignKey(File, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    multipart_id = models.CharField(max_length=1024, blank=True)
    part_size = models.BigIntegerField(default=0)
    parts_assembled = models.BooleanField(default=False)
    # Where the file goes: checked when the upload starts and again when it completes. No
    # database constraint: a folder purged meanwhile makes the complete a 404, not a file
    # silently filed at the root.
    folder = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # Folders below `folder` to create or find (a folder upload keeps its structure): "A/B".
    relative_path = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "expires_at"], name="upload_state_expires")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.state})"

    @property
    def is_multipart(self) -> bool:
        return bool(self.multipart_id)

    @property
    def part_count(self) -> int:
        return -(-self.size // self.part_size) if self.part_size else 0

    def part_bytes(self, number: int) -> int:
        """The size part `number` (1-based) must have: `part_size`, the last one the rest."""
        return min(self.part_size, self.size - (number - 1) * self.part_size)


class UploadKey(models.Model):
    """The `Idempotency-Key` an upload was made with, and what it made: a retry with the same
    key, by the same user in the same tenant, gets that file or version instead of a copy
    (files.services.idempotency). Kept for UPLOAD_IDEMPOTENCY_HOURS."""

    # The unique constraint's index serves lookups by tenant.
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of what the upload asked for (kind, target, bytes, fields): a key sent again
    # with another request is refused, not answered with the first one's result.
    fingerprint = models.CharField(max_length=64)
    file = models.ForeignKey(File, null=True, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(FileVersion, null=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user", "key"], name="uploadkey_unique")]
        indexes = [models.Index(fields=["created_at"], name="uploadkey_created")]

    def __str__(self) -> str:
        return self.key


class ExportState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"


class Export(models.Model):
    """A tenant export: a ZIP of every live file at its folder path plus `manifest.json`,
    made in the background and kept in the primary bucket until `expires_at`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=10, choices=ExportState.choices, default=ExportState.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    storage_key = models.CharField(max_length=500, blank=True)
    size = models.BigIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="export_tenant_created"),
            models.Index(fields=["expires_at"], name="export_expires"),
        ]

    def __str__(self) -> str:
        return f"export {self.id} ({self.state})"


class SearchTerm(models.Model):
    """A word from some file name or tag in the tenant: the vocabulary "did you mean" draws on.

    Kept by a trigger (migration 0006) and only ever added to; a term whose files are gone
    is harmless because a suggestion is offered only when searching for it finds files.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    term = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "term"], name="searchterm_tenant_term_unique")]
        indexes = [
            GinIndex(fields=["tenant", "term"], name="searchterm_tenant_trgm", opclasses=["uuid_ops", "gin_trgm_ops"])
        ]

    def __str__(self) -> str:
        return self.term


# --- Object permissions (django-guardian, with direct foreign keys) ----------------------
# Direct-FK tables instead of guardian's generic one: visibility (files.permissions) is then an
# indexed join on real foreign keys, not a text comparison of object ids.


def _granted_by() -> models.ForeignKey:
    # Who made the grant: they may manage it, and a folder grant reaches no further than what
    # its grantor could see (files.permissions). Null only on grants made before this was
    # recorded. CASCADE, not SET_NULL, so deleting a user never turns their grants into
    # unbounded ones.
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )


def _grantor() -> models.ForeignKey:
    # Set on a re-grant: one made by a member who is neither the object's owner nor an owner or
    # admin of the tenant, passing on rights roots gave them (files.permissions). It goes when
    # they leave the tenant, and counts only while they are an editor or more.
    return models.ForeignKey("accounts.Membership", null=True, blank=True, on_delete=models.CASCADE, related_name="+")


def _grantee_membership() -> models.ForeignKey:
    # A grant to a user holds only while they are a member: removing the membership (leaving
    # the tenant, removal by an admin, in the API or the admin site) deletes their grants.
    return models.ForeignKey("accounts.Membership", on_delete=models.CASCADE, related_name="+")


class FileUserPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(File, on_delete=models.CASCADE)
    membership = _grantee_membership()
    granted_by = _granted_by()
    grantor = _grantor()


class FileGroupPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(File, on_delete=models.CASCADE)
    granted_by = _granted_by()
    grantor = _grantor()


class FolderUserPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Folder, on_delete=models.CASCADE)
    membership = _grantee_membership()
    granted_by = _granted_by()
    grantor = _grantor()


class FolderGroupPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Folder, on_delete=models.CASCADE)
    granted_by = _granted_by()
    grantor = _grantor()
