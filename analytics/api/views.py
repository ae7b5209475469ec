from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from accounts.models import ActivityEvent
from analytics.selectors import activity_list
from files.selectors import file_get_for_actor
from mediaportal.openapi import PAGE_PARAMETERS, errors, paginated
from mediaportal.pagination import paginate


class ActivityOutput(serializers.ModelSerializer):
    user = serializers.SerializerMethodField()

    class Meta:
        model = ActivityEvent
        fields = ["id", "at", "verb", "user", "target_type", "target_id", "target_repr", "ip", "data"]

    def get_user(self, event: ActivityEvent) -> str | None:
        return event.user.username if event.user else None


class ActivityView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=["analytics"],
        parameters=[
            OpenApiParameter("verb", str, description="Prefix, e.g. `share.` or `file.downloaded`"),
            OpenApiParameter(
                "file",
                {"type": "string", "format": "uuid"},
                description="Only this file's events (which its owner may read too)",
            ),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(ActivityOutput), **errors(401, 403, 404)},
    )
    def get(self, request, tenant_slug):
        file_id = request.query_params.get("file")
        file = file_get_for_actor(membership=self.membership, file_id=file_id) if file_id else None
        events = activity_list(membership=self.membership, verb=request.query_params.get("verb"), file=file)
        return paginate(self, request, events, ActivityOutput, ordering="-at")
