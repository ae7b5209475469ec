from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.utils.dateparse import parse_date
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from accounts.models import ActivityEvent
from analytics import selectors
from analytics.api import serializers as s
from analytics.api.csv import EXPORT_PARAMETER, csv_response, csv_stream, wants_csv
from files.selectors import file_get_for_actor
from mediaportal.exceptions import ValidationFailed
from mediaportal.openapi import PAGE_PARAMETERS, errors, paginated
from mediaportal.pagination import paginate

TAGS = ["analytics"]
CSV = OpenApiResponse(description="With `export=csv`: the same figures as `text/csv`")
ACTIVITY_COLUMNS = ["id", "at", "verb", "user", "target_type", "target_id", "target_repr", "ip", "data"]
# Rows read from the database at a time while an activity export streams.
EXPORT_CHUNK = 2000


def _day(request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        parsed = parse_date(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationFailed(f"{name} must be a date (YYYY-MM-DD).", code="invalid_date")
    return parsed


class ActivityOutput(serializers.ModelSerializer):
    user = serializers.SerializerMethodField()

    class Meta:
        model = ActivityEvent
        fields = ACTIVITY_COLUMNS

    def get_user(self, event: ActivityEvent) -> str | None:
        return event.user.username if event.user else None


def _activity_rows(events):
    for event in events.iterator(chunk_size=EXPORT_CHUNK):
        yield {
            **{column: getattr(event, column) for column in ACTIVITY_COLUMNS if column != "user"},
            "user": event.user.username if event.user else None,
        }


class ActivityView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("verb", str, description="Prefix, e.g. `share.` or `file.downloaded`"),
            OpenApiParameter(
                "file",
                {"type": "string", "format": "uuid"},
                description="Only this file's events (which its owner may read too)",
            ),
            OpenApiParameter("user", str, description="Only what this user (a username) did"),
            OpenApiParameter("from", {"type": "string", "format": "date"}, description="From this day (UTC)"),
            OpenApiParameter("to", {"type": "string", "format": "date"}, description="To this day (UTC), included"),
            EXPORT_PARAMETER,
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(ActivityOutput), **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant_slug):
        file_id = request.query_params.get("file")
        file = file_get_for_actor(membership=self.membership, file_id=file_id) if file_id else None
        events = selectors.activity_list(
            membership=self.membership,
            verb=request.query_params.get("verb"),
            file=file,
            user=request.query_params.get("user"),
            start=_day(request, "from"),
            end=_day(request, "to"),
        )
        if wants_csv(request):
            rows = _activity_rows(events.order_by("-at", "-id"))
            return csv_stream(name="activity", tenant_slug=tenant_slug, columns=ACTIVITY_COLUMNS, rows=rows)
        return paginate(self, request, events, ActivityOutput, ordering="-at")


STORAGE_SUMMARY_COLUMNS = [
    "logical_bytes",
    "physical_bytes",
    "dedup_saved_bytes",
    "rendition_bytes",
    "hot_bytes",
    "archive_bytes",
    "replicated_bytes",
    "replica_coverage",
    "quota_bytes",
    "used_bytes",
    "files",
]


def _storage_rows(summary: dict):
    """One CSV of the three parts: the figures (`value`), then users and folders."""
    for figure in STORAGE_SUMMARY_COLUMNS:
        yield {"section": "summary", "name": figure, "value": summary[figure]}
    for row in summary["by_user"]:
        yield {"section": "user", "name": row["user"], "bytes": row["bytes"], "files": row["files"]}
    for row in summary["by_folder"]:
        yield {"section": "folder", "name": row["folder"], "path": row["path"], **row}


class StorageView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[EXPORT_PARAMETER],
        responses={200: s.StorageOutput, **errors(400, 401, 403, 404)},
        description="CSV columns: section (summary, user, folder), name, path, bytes, files, value.",
    )
    def get(self, request, tenant_slug):
        summary = selectors.storage_summary(membership=self.membership)
        if wants_csv(request):
            columns = ["section", "name", "path", "bytes", "files", "value"]
            return csv_response(name="storage", tenant_slug=tenant_slug, columns=columns, rows=_storage_rows(summary))
        return Response(summary)


class FileTypesView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS, parameters=[EXPORT_PARAMETER], responses={200: s.FileTypesOutput, **errors(400, 401, 403, 404)}
    )
    def get(self, request, tenant_slug):
        types = selectors.file_types(membership=self.membership)
        if wants_csv(request):
            columns = ["type", "content_type", "files", "bytes"]
            return csv_response(name="file-types", tenant_slug=tenant_slug, columns=columns, rows=types["results"])
        return Response(types)


class UsageView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "from", {"type": "string", "format": "date"}, description="First day (UTC); default 29 days before `to`"
            ),
            OpenApiParameter(
                "to", {"type": "string", "format": "date"}, description="Last day (UTC), included; default today"
            ),
            OpenApiParameter("interval", str, enum=list(selectors.usage.INTERVALS), description="Default day"),
            EXPORT_PARAMETER,
        ],
        responses={200: s.UsageOutput, **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant_slug):
        end = _day(request, "to") or datetime.now(UTC).date()
        start = _day(request, "from") or end - timedelta(days=29)
        interval = request.query_params.get("interval") or "day"
        usage = selectors.usage_series(membership=self.membership, start=start, end=end, interval=interval)
        if wants_csv(request):
            columns = ["period", "uploads", "upload_bytes", "downloads", "views", "share_hits", "active_users"]
            return csv_response(name="usage", tenant_slug=tenant_slug, columns=columns, rows=usage["results"])
        return Response(usage)


class CategoriesView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[EXPORT_PARAMETER],
        responses={200: s.CategoriesOutput, **errors(400, 401, 403, 404)},
        description="CSV columns: kind (label, tag), name, files.",
    )
    def get(self, request, tenant_slug):
        found = selectors.categories(membership=self.membership)
        if wants_csv(request):
            rows = [
                {"kind": kind, "name": name, "files": n}
                for kind, key in (("label", "labels"), ("tag", "tags"))
                for name, n in found[key].items()
            ]
            return csv_response(
                name="categories", tenant_slug=tenant_slug, columns=["kind", "name", "files"], rows=rows
            )
        return Response(found)
