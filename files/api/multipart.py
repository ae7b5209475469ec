"""Resumable multipart uploads: start one, get URLs for its parts, see which parts S3 holds,
give it up. Completing is the direct upload's `uploads/{id}/complete/` (files.api.views)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from files.api import serializers as s
from files.services import multipart
from mediaportal.openapi import errors as _errors

TAGS = ["files"]
CONFLICT = OpenApiResponse(s.UploadConflictOutput, description="The upload is over or complete")


def _session_out(progress: multipart.Progress) -> dict:
    session = progress.session
    body = {
        "id": session.id,
        "filename": session.filename,
        "size": session.size,
        "part_size": session.part_size,
        "part_count": session.part_count,
        "state": session.state,
        "expires_at": session.expires_at,
        "file": session.file_id,
        "parts": [{"number": number, "size": size} for number, size in sorted(progress.parts.items())],
        "missing": progress.missing if session.state == "pending" and not session.parts_assembled else [],
    }
    return s.MultipartSessionOutput(body).data


class MultipartCreateView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        request=s.MultipartCreateInput,
        responses={201: s.MultipartSessionOutput, **_errors(400, 401, 403, 404, 413, 503)},
        description=(
            "Start a resumable upload straight to S3. The server chooses `part_size` (at least 5 MiB, at most "
            "10,000 parts); ask `parts/` for URLs, PUT each part's bytes to its URL, then `complete/`. "
            "Refused before S3 is asked for anything: 413 `file_too_large` past the tenant's per-file limit, "
            "413 `quota_exceeded` when it would overfill the quota, 403 for viewers, 404 for an unknown folder."
        ),
    )
    def post(self, request, tenant_slug):
        data = s.MultipartCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = multipart.multipart_session_create(
            membership=self.membership,
            filename=data.validated_data["filename"],
            size=data.validated_data["size"],
            content_type=data.validated_data.get("content_type", ""),
            folder_id=data.validated_data.get("folder"),
            relative_path=data.validated_data.get("relative_path", ""),
        )
        progress = multipart.Progress(session=session, parts={})
        return Response(_session_out(progress), status=status.HTTP_201_CREATED)


class UploadDetailView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.MultipartSessionOutput, **_errors(401, 404, 503)},
        description=("A multipart upload and the parts S3 holds for it (S3's ListParts): resume by sending `missing`."),
    )
    def get(self, request, tenant_slug, upload_id):
        progress = multipart.multipart_progress(membership=self.membership, upload_id=upload_id)
        return Response(_session_out(progress))

    @extend_schema(
        tags=TAGS,
        responses={204: None, 409: CONFLICT, **_errors(401, 404, 503)},
        description="Give a multipart upload up: S3 drops its parts. 409 `already_completed` once it made its file.",
    )
    def delete(self, request, tenant_slug, upload_id):
        multipart.multipart_session_abort(membership=self.membership, upload_id=upload_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MultipartPartsView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        request=s.MultipartPartsInput,
        responses={200: s.MultipartPartUrlsOutput, 409: CONFLICT, **_errors(400, 401, 404)},
        description=(
            "Presigned URLs (valid up to an hour) to PUT the given parts to S3. Each URL takes exactly its part's "
            "`size` bytes. Ask again for a part to send it again."
        ),
    )
    def post(self, request, tenant_slug, upload_id):
        # Found first: someone else's upload is a 404 whatever the body says.
        multipart.multipart_get(membership=self.membership, upload_id=upload_id)
        data = s.MultipartPartsInput(data=request.data)
        data.is_valid(raise_exception=True)
        parts = multipart.multipart_part_urls(
            membership=self.membership, upload_id=upload_id, numbers=data.validated_data["parts"]
        )
        return Response(s.MultipartPartUrlsOutput({"parts": parts}).data)
