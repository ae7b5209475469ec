"""Tenant exports: `exports/` (start one, list them), `exports/{id}/` (its state and, once
ready, a download URL) and `exports/{id}/download/` (302 to it). Owners and admins only."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from files.api.serializers import UserBrief
from files.models import Export
from files.services import exports
from mediaportal.http import client_ip
from mediaportal.openapi import PAGE_PARAMETERS, ErrorOutput, paginated
from mediaportal.openapi import errors as _errors
from mediaportal.pagination import paginate

TAGS = ["exports"]
EXPIRED = {410: OpenApiResponse(ErrorOutput, description="`export_expired`: past `expires_at`, the ZIP is deleted")}


class ExportOutput(serializers.ModelSerializer):
    download = serializers.SerializerMethodField(
        help_text="Once ready and until `expires_at`: a URL of the ZIP, valid for at most 5 minutes (read the "
        "export again for a fresh one). Null otherwise."
    )
    expired = serializers.SerializerMethodField(help_text="Past `expires_at`: the ZIP is deleted.")
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "state",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "size",
            "file_count",
            "error",
            "download",
            "expired",
            "created_by",
        ]
        extra_kwargs = {
            "state": {"help_text": "pending, running, ready or failed"},
            "size": {"help_text": "Bytes of the ZIP, once ready"},
            "file_count": {"help_text": "Files listed in its manifest.json, once ready"},
            "error": {"help_text": "Why it failed, for people"},
        }

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download(self, export: Export) -> str | None:
        return exports.export_download_url(export=export)

    def get_expired(self, export: Export) -> bool:
        return exports.export_expired(export)

    @extend_schema_field(UserBrief(allow_null=True))
    def get_created_by(self, export: Export) -> dict | None:
        user = export.created_by
        return {"id": user.id, "username": user.username} if user else None


class ExportListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(ExportOutput), **_errors(401, 403, 404)},
        description="The tenant's exports, newest first (owners and admins).",
    )
    def get(self, request, tenant_slug):
        queryset = exports.export_list(membership=self.membership)
        return paginate(self, request, queryset, ExportOutput, ordering=("-created_at", "-id"))

    @extend_schema(
        tags=TAGS,
        request=None,
        responses={202: ExportOutput, **_errors(401, 403, 404, 409)},
        description=(
            "Start an export of every file of the tenant (owners and admins): a ZIP of the files at their folder "
            "paths plus `manifest.json` at its root, made in the background and kept for 7 days. 409 "
            "`export_running` while another export of the tenant is pending or running."
        ),
    )
    def post(self, request, tenant_slug):
        export = exports.export_create(membership=self.membership, ip=client_ip(request))
        return Response(ExportOutput(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, responses={200: ExportOutput, **_errors(401, 404)})
    def get(self, request, tenant_slug, export_id):
        return Response(ExportOutput(exports.export_get(membership=self.membership, export_id=export_id)).data)


class ExportDownloadView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        responses={
            302: OpenApiResponse(description="Redirect to the ZIP (presigned, ≤ 5 minutes)"),
            **_errors(401, 404, 409),
            **EXPIRED,
        },
        description="409 `export_not_ready` before the export is ready; 410 `export_expired` after `expires_at`.",
    )
    def get(self, request, tenant_slug, export_id):
        url = exports.export_download(membership=self.membership, export_id=export_id, ip=client_ip(request))
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"
        return response
