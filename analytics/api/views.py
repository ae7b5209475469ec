from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from accounts.models import ActivityEvent
from analytics.selectors import activity_list
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
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(ActivityOutput), **errors(401, 403, 404)},
    )
    def get(self, request, tenant_slug):
        events = activity_list(membership=self.membership, verb=request.query_params.get("verb"))
        return paginate(self, request, events, ActivityOutput, ordering="-at")
