from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from mediaportal.serializers import Input
from sharing.models import ShareLink

PERMISSIONS = ["view", "change", "delete", "share"]
MAX_DOWNLOADS = 2**31 - 1  # the column's range


class ShareInput(Input):
    file = serializers.UUIDField(required=False, allow_null=True)
    folder = serializers.UUIDField(required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Default: 7 days from now")
    password = serializers.CharField(required=False, allow_blank=True, max_length=256, trim_whitespace=False)
    max_downloads = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_DOWNLOADS)
    allow_upload = serializers.BooleanField(required=False, default=False, help_text="Folder links: upload-only")
    notify_on_first_open = serializers.BooleanField(
        required=False, default=False, help_text="Mail the link's creator when its page is first opened."
    )


@extend_schema_field({"type": "boolean", "enum": [False]})
class _NoUploads(serializers.BooleanField):
    pass


class _ShareFileInput(ShareInput):
    # Documentation only (ShareInput validates): the two shapes a link takes.
    file = serializers.UUIDField()
    folder = None
    allow_upload = _NoUploads(required=False, help_text="File links take no uploads.")

    class Meta:
        ref_name = "ShareFileInput"


class _ShareFolderInput(ShareInput):
    file = None
    folder = serializers.UUIDField()

    class Meta:
        ref_name = "ShareFolderInput"


SHARE_INPUT = PolymorphicProxySerializer(
    component_name="ShareInput",
    serializers=[_ShareFileInput, _ShareFolderInput],
    resource_type_field_name=None,
    many=False,
)


class ShareUpdateInput(Input):
    expires_at = serializers.DateTimeField(required=False)
    password = serializers.CharField(required=False, allow_blank=True, max_length=256, trim_whitespace=False)
    max_downloads = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_DOWNLOADS)
    notify_on_first_open = serializers.BooleanField(required=False)


class ShareOutput(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    has_password = serializers.SerializerMethodField()
    state = serializers.CharField(read_only=True)
    file = serializers.UUIDField(source="file_id", allow_null=True)
    folder = serializers.UUIDField(source="folder_id", allow_null=True)

    class Meta:
        model = ShareLink
        fields = [
            "id",
            "url",
            "file",
            "folder",
            "expires_at",
            "max_downloads",
            "download_count",
            "has_password",
            "allow_upload",
            "state",
            "created_at",
            "last_accessed_at",
            "revoked_at",
            "notify_on_first_open",
            "first_opened_at",
        ]

    def get_url(self, link: ShareLink) -> str | None:
        # The token is not stored, so the full URL exists only in the create response.
        return self.context.get("url")

    def get_has_password(self, link: ShareLink) -> bool:
        return bool(link.password_hash)


class ShareCreatedOutput(ShareOutput):
    token = serializers.CharField(help_text="Shown only in this response.")

    class Meta(ShareOutput.Meta):
        fields = ShareOutput.Meta.fields + ["token"]


class _ReceiptCounts(serializers.Serializer):
    opens = serializers.IntegerField(help_text="Visits of the link's page.")
    unlocks = serializers.IntegerField(help_text="Right passwords given.")
    downloads = serializers.IntegerField(help_text="Files and ZIPs downloaded through the link.")
    refused = serializers.IntegerField(help_text="Wrong passwords and throttled attempts.")


class ReceiptDayOutput(_ReceiptCounts):
    day = serializers.DateField()


class ReceiptNetworkOutput(_ReceiptCounts):
    network = serializers.CharField(help_text='An IPv4 /24 or IPv6 /48 ("203.0.113.0/24"), or "unknown".')
    last_seen = serializers.DateTimeField()


class ReceiptRefusedOutput(serializers.Serializer):
    wrong_password = serializers.IntegerField()
    throttled = serializers.IntegerField()


class ReceiptsOutput(serializers.Serializer):
    link = serializers.UUIDField()
    name = serializers.CharField(help_text="The shared file's or folder's name.")
    opens = serializers.IntegerField()
    unlocks = serializers.IntegerField()
    downloads = serializers.IntegerField()
    refused = ReceiptRefusedOutput()
    first_opened_at = serializers.DateTimeField(allow_null=True)
    last_opened_at = serializers.DateTimeField(allow_null=True)
    by_day = ReceiptDayOutput(many=True)
    networks = ReceiptNetworkOutput(many=True, help_text="The busiest 100 networks.")


class GrantInput(Input):
    user = serializers.UUIDField(required=False, allow_null=True)
    group = serializers.UUIDField(required=False, allow_null=True)
    permissions = serializers.ListField(child=serializers.ChoiceField(choices=PERMISSIONS), min_length=1)


class _GrantToUserInput(GrantInput):
    # Documentation only (GrantInput validates): a grant names one user or one group.
    user = serializers.UUIDField()
    group = None

    class Meta:
        ref_name = "GrantToUserInput"


class _GrantToGroupInput(GrantInput):
    user = None
    group = serializers.UUIDField()

    class Meta:
        ref_name = "GrantToGroupInput"


GRANT_INPUT = PolymorphicProxySerializer(
    component_name="GrantInput",
    serializers=[_GrantToUserInput, _GrantToGroupInput],
    resource_type_field_name=None,
    many=False,
)


class GrantOutput(serializers.Serializer):
    id = serializers.UUIDField(help_text="The user's or group's id; DELETE permissions/{id}/ revokes.")
    user = serializers.UUIDField(allow_null=True)
    username = serializers.CharField(allow_null=True)
    group = serializers.UUIDField(allow_null=True)
    granted_by = serializers.UUIDField(allow_null=True, help_text="Who made the grant (null if not recorded).")
    permissions = serializers.ListField(child=serializers.CharField())


class GroupInput(Input):
    name = serializers.CharField(max_length=100, help_text="Optional when changing a group.")
    members = serializers.ListField(child=serializers.UUIDField(), required=False)


class GroupOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    members = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_members(self, group) -> list[str]:
        return [str(pk) for pk in group.group.user_set.values_list("pk", flat=True)]
