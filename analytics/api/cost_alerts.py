"""The cost estimate (`analytics/cost/`, also as CSV) and the quota and budget alerts
(`alerts/`): owners and admins."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from analytics.models import Alert
from analytics.selectors import ALERT_STATES, alert_list
from analytics.services.cost import TIERS, cost_summary
from mediaportal.exceptions import ValidationFailed
from mediaportal.openapi import PAGE_PARAMETERS, errors, paginated
from mediaportal.pagination import paginate

EXPORT = OpenApiParameter("export", str, enum=["csv"], description="`csv`: the same figures as text/csv.")


def _amount(**kwargs) -> serializers.DecimalField:
    # Amounts are JSON numbers with cents (DRF's default would be strings).
    return serializers.DecimalField(max_digits=20, decimal_places=2, coerce_to_string=False, **kwargs)


class TierCostOutput(serializers.Serializer):
    bytes = serializers.IntegerField(min_value=0, max_value=2**63 - 1)
    cost = _amount()


class ByTierOutput(serializers.Serializer):
    hot = TierCostOutput(help_text="Primary objects in the hot tier and all renditions.")
    archive = TierCostOutput()
    replica = TierCostOutput(help_text="Verified copies in the replica region.")


class CostOutput(serializers.Serializer):
    currency = serializers.CharField()
    estimated_monthly_cost = _amount(help_text="A month at today's size: the sum of the tiers' costs.")
    by_tier = ByTierOutput()
    monthly_budget = _amount(allow_null=True, help_text="Null: no budget.")
    budget_used_ratio = serializers.DecimalField(
        max_digits=20,
        decimal_places=4,
        coerce_to_string=False,
        allow_null=True,
        help_text="Estimated cost / budget (1.0 = the whole budget); null without a budget or with a budget of 0.",
    )
    as_of = serializers.DateTimeField(
        allow_null=True, help_text="When the storage figures were measured; null before the first measurement."
    )


def _csv(header: list[str], rows: list[list], filename: str) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CostView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=["analytics"],
        parameters=[EXPORT],
        responses={
            (200, "application/json"): CostOutput,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="item,bytes,amount,currency rows"),
            **errors(400, 401, 403, 404),
        },
    )
    def get(self, request, tenant_slug):
        export = request.query_params.get("export") or None  # empty: as if not given
        if export not in (None, "csv"):
            raise ValidationFailed("export must be csv.", code="invalid_export")
        summary = cost_summary(membership=self.membership)
        if export == "csv":
            currency, tiers = summary["currency"], summary["by_tier"]
            rows = [[tier, tiers[tier]["bytes"], tiers[tier]["cost"], currency] for tier in TIERS]
            rows.append(
                [
                    "estimated_monthly_cost",
                    sum(t["bytes"] for t in tiers.values()),
                    summary["estimated_monthly_cost"],
                    currency,
                ]
            )
            rows.append(
                [
                    "monthly_budget",
                    "",
                    summary["monthly_budget"] if summary["monthly_budget"] is not None else "",
                    currency,
                ]
            )
            return _csv(["item", "bytes", "amount", "currency"], rows, f"{tenant_slug}-cost.csv")
        return Response(CostOutput(summary).data)


class AlertOutput(serializers.ModelSerializer):
    threshold = serializers.FloatField(
        help_text="The ratio crossed: 0.8 or 0.95 of the quota, 0.8 or 1.0 of the budget."
    )
    value = serializers.FloatField(help_text="The ratio measured when raised (bytes used / quota, or cost / budget).")

    class Meta:
        model = Alert
        fields = ["id", "kind", "threshold", "value", "raised_at", "cleared_at", "data"]


class AlertListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=["analytics"],
        parameters=[
            OpenApiParameter(
                "state", str, enum=list(ALERT_STATES), description="`open` (the default) or `all`, cleared ones too."
            ),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(AlertOutput), **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant_slug):
        alerts = alert_list(membership=self.membership, state=request.query_params.get("state"))
        return paginate(self, request, alerts, AlertOutput, ordering="-raised_at")
