"""Schemas of the analytics answers (DESIGN 5.1): the views return the selectors' dicts."""

from __future__ import annotations

from rest_framework import serializers

AS_OF = "When the storage figures were measured (the latest hourly snapshot); null: just now."


class UserBytesOutput(serializers.Serializer):
    user = serializers.CharField(allow_null=True, help_text="Username; null for files of a deleted user")
    bytes = serializers.IntegerField(help_text="Every version of the files they uploaded, the trash included")
    files = serializers.IntegerField()


class FolderBytesOutput(serializers.Serializer):
    folder = serializers.UUIDField(allow_null=True, help_text="A top-level folder; null for the root's own files")
    path = serializers.CharField()
    bytes = serializers.IntegerField(help_text="Every version of every file under it")
    files = serializers.IntegerField()


class StorageOutput(serializers.Serializer):
    logical_bytes = serializers.IntegerField(help_text="Every version of every file, the trash included")
    physical_bytes = serializers.IntegerField(help_text="Distinct stored contents (after deduplication)")
    dedup_saved_bytes = serializers.IntegerField()
    rendition_bytes = serializers.IntegerField(help_text="Thumbnails and previews")
    hot_bytes = serializers.IntegerField()
    archive_bytes = serializers.IntegerField(help_text="In the archive tier, or being retrieved from it")
    replicated_bytes = serializers.IntegerField()
    replica_coverage = serializers.FloatField(help_text="Share of stored bytes (contents and renditions) replicated")
    quota_bytes = serializers.IntegerField()
    used_bytes = serializers.IntegerField(help_text="What the quota counts, now")
    files = serializers.IntegerField()
    by_user = UserBytesOutput(many=True)
    by_folder = FolderBytesOutput(many=True)
    as_of = serializers.DateTimeField(allow_null=True, help_text=AS_OF)


class FileTypeOutput(serializers.Serializer):
    type = serializers.CharField(help_text="The files list's `type` group, or `other`")
    content_type = serializers.CharField()
    files = serializers.IntegerField()
    bytes = serializers.IntegerField()


class FileTypesOutput(serializers.Serializer):
    results = FileTypeOutput(many=True)
    as_of = serializers.DateTimeField(allow_null=True, help_text=AS_OF)


class UsagePeriodOutput(serializers.Serializer):
    period = serializers.DateField(help_text="The day, or the Monday of the week (UTC)")
    uploads = serializers.IntegerField()
    upload_bytes = serializers.IntegerField()
    downloads = serializers.IntegerField()
    views = serializers.IntegerField()
    share_hits = serializers.IntegerField()
    active_users = serializers.IntegerField()


class UsageOutput(serializers.Serializer):
    results = UsagePeriodOutput(many=True)
    interval = serializers.ChoiceField(choices=["day", "week"])
    # "from" is a Python keyword: declared below.
    to = serializers.DateField()


UsageOutput._declared_fields["from"] = serializers.DateField()


class CategoriesOutput(serializers.Serializer):
    labels = serializers.DictField(child=serializers.IntegerField(), help_text="Live files per label")
    tags = serializers.DictField(child=serializers.IntegerField(), help_text="Live files per tag")
    as_of = serializers.DateTimeField(allow_null=True, help_text=AS_OF)
