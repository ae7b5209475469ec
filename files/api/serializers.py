"""Shapes of folders, files, versions, trash entries and direct uploads."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from files.models import File, FileVersion, Folder, Visibility
from files.names import MAX_COMMENT_LENGTH, MAX_DESCRIPTION_LENGTH
from files.services.files import rendition_urls
from mediaportal.openapi import ErrorOutput
from mediaportal.serializers import Input


class UserBrief(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()


class FolderOutput(serializers.ModelSerializer):
    parent = serializers.UUIDField(source="parent_id", allow_null=True)
    file_count = serializers.IntegerField(required=False)
    folder_count = serializers.IntegerField(required=False)

    class Meta:
        model = Folder
        fields = ["id", "name", "parent", "path", "created_at", "file_count", "folder_count"]


class FolderCreateInput(Input):
    name = serializers.CharField(max_length=255)
    parent = serializers.UUIDField(required=False, allow_null=True)


class FolderUpdateInput(Input):
    name = serializers.CharField(max_length=255, required=False)
    parent = serializers.UUIDField(required=False, allow_null=True, help_text="Target folder id, or null for the root.")


class OcrSummaryOutput(serializers.Serializer):
    pages = serializers.IntegerField(help_text="Pages on which text was recognised.")
    text_length = serializers.IntegerField(help_text="Characters recognised.")
    confidence = serializers.FloatField(allow_null=True, help_text="0..1, weighted by the lines' length.")
    engine = serializers.CharField()
    duration_ms = serializers.FloatField(allow_null=True)
    recognition_skipped = serializers.BooleanField(
        help_text="True when a first, quick detection found no text, so nothing was read."
    )
    stopped = serializers.ChoiceField(
        choices=["page_limit", "time_limit"],
        allow_null=True,
        help_text="Why pages were left unread (OCR_MAX_PAGES, OCR_TIME_LIMIT_SECONDS); null when none were.",
    )


class OcrWordOutput(serializers.Serializer):
    text = serializers.CharField()
    box = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4, help_text="[left, top, right, bottom], 0..1."
    )


class OcrLineOutput(serializers.Serializer):
    text = serializers.CharField()
    confidence = serializers.FloatField()
    box = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        help_text="The line's four corners [x, y] (clockwise from top left) as fractions of the page, 0..1.",
    )
    words = OcrWordOutput(many=True)


class OcrPageOutput(serializers.Serializer):
    number = serializers.IntegerField(help_text="The page of the document, from 1 (a picture is page 1).")
    width = serializers.IntegerField(help_text="Of the picture read, in pixels.")
    height = serializers.IntegerField()
    text = serializers.CharField(allow_blank=True)
    confidence = serializers.FloatField(allow_null=True)
    lines = OcrLineOutput(many=True)


class FileOcrOutput(serializers.Serializer):
    file = serializers.UUIDField()
    version = serializers.IntegerField()
    engine = serializers.CharField()
    page_count = serializers.IntegerField(help_text="Pages with recognised text, in all.")
    results = OcrPageOutput(many=True)
    next = serializers.URLField(allow_null=True)
    searchable_pdf = serializers.URLField(
        allow_null=True,
        help_text=(
            "A scanned PDF with the recognised text laid in as an invisible layer, so viewers can search and "
            "select it (presigned, ≤ 5 minutes); null when there is none."
        ),
    )


def _datetime(value) -> str | None:
    # DRF's DateTimeField.to_representation, without its lookups of the output format and of
    # the field's own zone for every value: a page of 50 files has 200 of them.
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class FileOutput(serializers.ModelSerializer):
    folder = serializers.UUIDField(source="folder_id", allow_null=True)
    version = serializers.SerializerMethodField()
    renditions = serializers.SerializerMethodField()
    storage_tier = serializers.SerializerMethodField()
    replicated = serializers.SerializerMethodField()
    archived_at = serializers.SerializerMethodField()
    integrity_lost = serializers.SerializerMethodField()
    uploaded_by = serializers.SerializerMethodField()
    ocr = serializers.SerializerMethodField()

    class Meta:
        model = File
        fields = [
            "id",
            "name",
            "folder",
            "size",
            "content_type",
            "sha256",
            "status",
            "error",
            "error_code",
            "version",
            "tags",
            "description",
            "visibility",
            "labels",
            "metadata",
            "renditions",
            "storage_tier",
            "archived_at",
            "replicated",
            "integrity_lost",
            "created_at",
            "updated_at",
            "last_accessed_at",
            "uploaded_by",
            "ocr",
        ]

    def to_representation(self, file: File) -> dict:
        # The fields above, built directly (the get_* methods are the method fields'): lists
        # and search answer up to 50 files a request, and DRF's walk through 25 bound fields
        # for each took half of a list's serializing time. Same JSON as DRF's walk, field for
        # field (tests/files/test_api_output.py compares the two).
        return {
            "id": str(file.id),
            "name": file.name,
            "folder": str(file.folder_id) if file.folder_id is not None else None,
            "size": file.size,
            "content_type": file.content_type,
            "sha256": file.sha256,
            "status": str(file.status),
            "error": file.error,
            "error_code": file.error_code,
            "version": self.get_version(file),
            "tags": list(file.tags) if file.tags is not None else None,
            "description": file.description,
            "visibility": str(file.visibility),
            "labels": file.labels,
            "metadata": file.metadata,
            "renditions": self.get_renditions(file),
            "storage_tier": self.get_storage_tier(file),
            "archived_at": self.get_archived_at(file),
            "replicated": self.get_replicated(file),
            "integrity_lost": self.get_integrity_lost(file),
            "created_at": _datetime(file.created_at),
            "updated_at": _datetime(file.updated_at),
            "last_accessed_at": _datetime(file.last_accessed_at),
            "uploaded_by": self.get_uploaded_by(file),
            "ocr": self.get_ocr(file),
        }

    def get_version(self, file: File) -> int | None:
        return file.current_version.number if file.current_version else None

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string", "format": "uri"}})
    def get_renditions(self, file: File) -> dict:
        """Short-lived URLs of the WebP renditions (`{id}/renditions/{kind}/?format=jpeg` for JPEG)."""
        if file.status != "completed" or file.current_version is None:
            return {}
        return rendition_urls(file=file)

    @extend_schema_field(serializers.ChoiceField(choices=["hot", "archive", "retrieving"]))
    def get_storage_tier(self, file: File) -> str:
        return file.current_version.blob.tier if file.current_version else "hot"

    def get_replicated(self, file: File) -> bool:
        return bool(file.current_version and file.current_version.blob.replicated_at)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_archived_at(self, file: File):
        blob = file.current_version.blob if file.current_version else None
        return _datetime(blob.archived_at) if blob else None

    def get_integrity_lost(self, file: File) -> bool:
        """True when no intact copy of the current version's bytes is left (the scrub found
        the primary, archive and replica copies missing or damaged); admins are told."""
        return bool(file.current_version and file.current_version.blob.integrity_lost_at)

    @extend_schema_field(UserBrief(allow_null=True))
    def get_uploaded_by(self, file: File) -> dict | None:
        return {"id": file.owner.id, "username": file.owner.username} if file.owner else None

    @extend_schema_field(OcrSummaryOutput(allow_null=True))
    def get_ocr(self, file: File) -> dict | None:
        """What OCR read in the current version (`files/{id}/ocr/` has the lines); null when it
        did not run (not a picture or a scan, OCR off for the tenant, not processed yet)."""
        summary = (file.metadata or {}).get("ocr") if file.status == "completed" else None
        if not isinstance(summary, dict):
            return None
        return {
            "pages": summary.get("pages", 0),
            "text_length": summary.get("text_length", 0),
            "confidence": summary.get("confidence"),
            "engine": summary.get("engine", ""),
            "duration_ms": summary.get("ms"),
            "recognition_skipped": bool(summary.get("recognition_skipped")),
            "stopped": summary.get("stopped"),
        }


RELATIVE_PATH_HELP = (
    "Folders below `folder` to put the file in, created when missing (a dropped folder keeps "
    "its structure): `Trip/Day 1`. No `..`; at most 32 deep."
)

# A folder's id, or nothing: one pattern (validators may leave a `uuid` format unchecked, and
# an empty string is not one).
FORM_FOLDER_PATTERN = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"


@extend_schema_field({"type": "string", "pattern": FORM_FOLDER_PATTERN})
class _FormFolder(serializers.UUIDField):
    # A form cannot say null: an empty `folder` is the root, as an absent one.
    def to_internal_value(self, data):
        return None if data == "" else super().to_internal_value(data)


class FileUploadInput(serializers.Serializer):
    # An empty file is the service's to refuse (`empty_file`), like a missing one is the view's.
    file = serializers.FileField(allow_empty_file=True)
    folder = _FormFolder(required=False, help_text="Folder id; empty or absent for the root.")
    description = serializers.CharField(required=False, allow_blank=True, max_length=MAX_DESCRIPTION_LENGTH)
    tags = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Repeat the field, or one comma-separated value."
    )
    on_conflict = serializers.ChoiceField(choices=["rename", "replace", "fail"], default="rename")
    relative_path = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, help_text=RELATIVE_PATH_HELP
    )


class FileUpdateInput(Input):
    name = serializers.CharField(max_length=1000, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=MAX_DESCRIPTION_LENGTH)
    tags = serializers.ListField(child=serializers.CharField(max_length=1000), required=False, max_length=1000)
    folder = serializers.UUIDField(required=False, allow_null=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)


class VersionOutput(serializers.ModelSerializer):
    size = serializers.IntegerField(source="blob.size")
    sha256 = serializers.CharField(source="blob.sha256")
    content_type = serializers.CharField(source="blob.content_type")
    uploaded_by = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField()

    class Meta:
        model = FileVersion
        fields = ["number", "size", "sha256", "content_type", "uploaded_by", "created_at", "comment", "current"]

    @extend_schema_field(UserBrief(allow_null=True))
    def get_uploaded_by(self, version: FileVersion) -> dict | None:
        user = version.uploaded_by
        return {"id": user.id, "username": user.username} if user else None

    def get_current(self, version: FileVersion) -> bool:
        return version.pk == self.context.get("current_version_id")


class VersionUploadInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=MAX_COMMENT_LENGTH)


class TrashEntryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["file", "folder"])
    name = serializers.CharField()
    deleted_at = serializers.DateTimeField()
    original_path = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)


class TrashListOutput(serializers.Serializer):
    results = TrashEntryOutput(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class RestoredOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    name = serializers.CharField()
    path = serializers.CharField()


class UploadCreateInput(Input):
    filename = serializers.CharField(max_length=1000)
    size = serializers.IntegerField(min_value=1)
    content_type = serializers.CharField(max_length=255, required=False, allow_blank=True)


class UploadCreateOutput(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    fields = serializers.DictField(child=serializers.CharField())
    expires_at = serializers.DateTimeField()


class UploadCompleteInput(Input):
    folder = serializers.UUIDField(
        required=False, allow_null=True, help_text="Folder id; a multipart upload defaults to the one it started with."
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=MAX_DESCRIPTION_LENGTH)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class MultipartCreateInput(Input):
    filename = serializers.CharField(max_length=1000)
    size = serializers.IntegerField(min_value=1)
    content_type = serializers.CharField(max_length=255, required=False, allow_blank=True)
    folder = serializers.UUIDField(required=False, allow_null=True, help_text="Folder id; the root when absent.")
    relative_path = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, help_text=RELATIVE_PATH_HELP
    )


class MultipartPartOutput(serializers.Serializer):
    number = serializers.IntegerField(help_text="Part number, from 1.")
    size = serializers.IntegerField(help_text="Bytes the part must have (all `part_size` but the last).")


class MultipartSessionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    part_size = serializers.IntegerField()
    part_count = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["pending", "completed", "expired"])
    expires_at = serializers.DateTimeField()
    file = serializers.UUIDField(allow_null=True, help_text="The file, once completed.")
    parts = MultipartPartOutput(many=True, help_text="The parts S3 holds now, as S3 lists them.")
    missing = serializers.ListField(
        child=serializers.IntegerField(), help_text="Part numbers still to send (all of them, or none once joined)."
    )


class MultipartPartsInput(Input):
    parts = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000, help_text="Part numbers."
    )


class MultipartPartUrlOutput(MultipartPartOutput):
    url = serializers.URLField(help_text="PUT the part's bytes here (exactly `size` bytes, no other headers needed).")


class MultipartPartUrlsOutput(serializers.Serializer):
    parts = MultipartPartUrlOutput(many=True)


class UploadConflictOutput(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(
        choices=["parts_missing", "upload_changed", "upload_expired", "already_completed", "name_conflict", "retry"]
    )
    missing = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="With `parts_missing`: the parts still to send."
    )


class SearchHitOutput(serializers.Serializer):
    file = FileOutput()
    rank = serializers.FloatField()
    highlight = serializers.CharField(help_text="Matching passages, matches wrapped in <mark>…</mark>.")
    matched_in = serializers.ListField(
        child=serializers.ChoiceField(choices=["text", "ocr"]),
        help_text=(
            "Where the highlighted words are: `text` (name, description, extracted text), `ocr` (text recognised "
            "in the picture or scan)."
        ),
    )


class SearchOutput(serializers.Serializer):
    results = SearchHitOutput(many=True)
    facets = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    next = serializers.URLField(allow_null=True)
    suggestion = serializers.CharField(allow_null=True)


# --- The archive tier ---------------------------------------------------------------


class FileRetrieveInput(Input):
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Retrieve this version's bytes instead of the current one's."
    )


class FolderRetrieveInput(Input):
    versions = serializers.BooleanField(
        required=False, default=False, help_text="Also the older versions of the files, not only their current one."
    )


class FolderRetrieveOutput(serializers.Serializer):
    retrieving = serializers.IntegerField(
        min_value=0, help_text="Files whose bytes are on their way back (0: nothing under the folder is archived)."
    )


class RetrieveHint(serializers.Serializer):
    method = serializers.ChoiceField(choices=["POST"])
    url = serializers.CharField(help_text="The file's `retrieve/` endpoint.")
    body = serializers.DictField(required=False, help_text='What to send, for a version: `{"version": n}`.')


class ArchivedOutput(ErrorOutput):
    retrieve = RetrieveHint(required=False, help_text="With `file_archived` for one file: how to retrieve it.")
    archived = serializers.ListField(
        child=serializers.UUIDField(), required=False, help_text="With `file_archived` for many files: their ids."
    )
