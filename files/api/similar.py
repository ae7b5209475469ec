"""Similar images: `files/{id}/similar/` (the copies of a file's picture), `duplicates/` (the
tenant's groups of copies) and `duplicates/resolve/` (keep one, the others become its earlier
versions or go to the trash). Only files the caller may see are ever listed."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from files.processing.similar import KINDS
from files.services import duplicates, similar
from mediaportal.exceptions import ValidationFailed
from mediaportal.http import client_ip
from mediaportal.openapi import errors as _errors

TAGS = ["similar"]
GROUPS_PER_PAGE = 20


class SimilarFileOutput(serializers.Serializer):
    file = serializers.UUIDField(source="file.pk")
    name = serializers.CharField(source="file.name")
    size = serializers.IntegerField(source="file.size")
    content_type = serializers.CharField(source="file.content_type")
    distance = serializers.IntegerField(help_text="Bits apart of the two 64-bit pHashes (0: the same picture).")
    kind = serializers.ChoiceField(
        choices=KINDS,
        help_text="`exact`: the same bytes. `re-encoded`: the same picture and pixel size in another format or "
        "quality. `resized`: the same picture at another pixel size. `edited`: cropped or changed a little.",
    )
    best = serializers.BooleanField(help_text="The copy to keep: largest, least compressed, with metadata.")


class SimilarListOutput(serializers.Serializer):
    results = SimilarFileOutput(many=True)
    best = serializers.UUIDField(
        allow_null=True, help_text="The best copy among the file and these (null when the file is no picture)."
    )


class FileSimilarView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, responses={200: SimilarListOutput, **_errors(401, 404)})
    def get(self, request, tenant_slug, file_id):
        matches, best = similar.file_similar(membership=self.membership, file_id=file_id)
        return Response(
            {"results": SimilarFileOutput(matches, many=True).data, "best": best.pk if best is not None else None}
        )


class DuplicateMemberOutput(serializers.Serializer):
    file = serializers.UUIDField(source="file.pk")
    name = serializers.CharField(source="file.name")
    size = serializers.IntegerField(source="file.size")
    width = serializers.IntegerField(source="fingerprint.width")
    height = serializers.IntegerField(source="fingerprint.height")
    format = serializers.CharField(source="fingerprint.format")
    kind = serializers.ChoiceField(
        choices=KINDS, allow_null=True, help_text="Relative to the best copy; null for the best copy."
    )
    distance = serializers.IntegerField()


class DuplicateGroupOutput(serializers.Serializer):
    group = serializers.IntegerField(source="id")
    best = serializers.UUIDField(source="best.pk")
    members = DuplicateMemberOutput(many=True)


class DuplicateListOutput(serializers.Serializer):
    results = DuplicateGroupOutput(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


def _cursor(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed("Invalid cursor.", code="invalid_cursor") from None


class DuplicateListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("cursor", str, description="Where to continue: from a page's `next`.")],
        responses={200: DuplicateListOutput, **_errors(400, 401, 404)},
    )
    def get(self, request, tenant_slug):
        after = _cursor(request.query_params.get("cursor"))
        groups, more = similar.duplicate_groups(membership=self.membership, limit=GROUPS_PER_PAGE, after=after)
        next_url = None
        if more is not None:
            next_url = request.build_absolute_uri(request.path) + f"?cursor={more}"
        return Response({"results": DuplicateGroupOutput(groups, many=True).data, "next": next_url, "previous": None})


class ResolveInput(serializers.Serializer):
    keep = serializers.UUIDField()
    others = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=duplicates.MAX_OTHERS)
    action = serializers.ChoiceField(choices=duplicates.ACTIONS)


class ResolveOutput(serializers.Serializer):
    keep = serializers.UUIDField()
    version = serializers.IntegerField(help_text="The kept file's current version number.")
    trashed = serializers.ListField(child=serializers.UUIDField())
    action = serializers.ChoiceField(choices=duplicates.ACTIONS)


class DuplicateResolveView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        request=ResolveInput,
        responses={200: ResolveOutput, **_errors(400, 401, 403, 404, 409)},
        description="Keep one copy; the others become its earlier versions (`versions`) or go to the trash "
        "(`trash`). Needs change rights on the kept file and delete rights on the others; all or nothing.",
    )
    def post(self, request, tenant_slug):
        data = ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        keep, others = duplicates.duplicates_resolve(
            membership=self.membership,
            keep_id=data.validated_data["keep"],
            other_ids=data.validated_data["others"],
            action=data.validated_data["action"],
            ip=client_ip(request),
        )
        return Response(
            {
                "keep": keep.pk,
                "version": keep.current_version.number,
                "trashed": [o.pk for o in others],
                "action": data.validated_data["action"],
            }
        )
