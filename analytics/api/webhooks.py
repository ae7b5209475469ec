"""Webhooks: `webhooks/` (list, create), `webhooks/{id}/` (read, change, delete),
`webhooks/{id}/deliveries/` (each with its attempts), `webhooks/{id}/ping/` and
`webhooks/{id}/deliveries/{d}/redeliver/`. Owners and admins only (403 for other members)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from analytics.models import Webhook, WebhookAttempt, WebhookDelivery
from analytics.services import webhooks
from files.api.serializers import UserBrief
from mediaportal.openapi import PAGE_PARAMETERS, errors, paginated
from mediaportal.pagination import paginate
from mediaportal.serializers import Input

TAGS = ["webhooks"]
EVENT_HELP = f"Events to send: {', '.join(webhooks.EVENTS)}"


@extend_schema_field({"type": "string", "format": "uri", "maxLength": 2000, "pattern": webhooks.URL_PATTERN.pattern})
class WebhookUrlField(serializers.CharField):
    """The URL as text: the service checks it and answers `invalid_url` in its own words."""


@extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(webhooks.EVENTS)}, "minItems": 1})
class WebhookEventsField(serializers.ListField):
    """The events as a list: the service checks the names (`invalid_events`)."""


# Empty: one is made. Otherwise the service wants 8 to 200 characters (`invalid_secret`).
@extend_schema_field(
    {"anyOf": [{"type": "string", "maxLength": 0}, {"type": "string", "minLength": 8, "maxLength": 200}]}
)
class WebhookSecretField(serializers.CharField):
    pass


class WebhookInput(Input):
    url = WebhookUrlField(help_text="http:// or https:// URL that receives a JSON POST per event")
    events = WebhookEventsField(child=serializers.CharField(), help_text=EVENT_HELP)
    secret = WebhookSecretField(
        required=False,
        allow_blank=True,
        help_text="Signs each body (HMAC-SHA256); made for you when not given, shown once in this answer",
    )
    active = serializers.BooleanField(required=False, help_text="Only on PATCH: false pauses deliveries")


class WebhookOutput(serializers.ModelSerializer):
    secret = serializers.SerializerMethodField(
        help_text="In full in the answer that created the webhook only; afterwards its last 4 characters"
    )
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "active", "secret", "created_at", "created_by"]

    def get_secret(self, webhook: Webhook) -> str:
        return webhook.secret if self.context.get("reveal") else webhooks.secret_masked(webhook)

    @extend_schema_field(UserBrief(allow_null=True))
    def get_created_by(self, webhook: Webhook) -> dict | None:
        user = webhook.created_by
        return {"id": user.id, "username": user.username} if user else None


class AttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["at", "status_code", "error", "duration_ms", "response_excerpt"]
        extra_kwargs = {
            "status_code": {"help_text": "The receiver's HTTP status; null when none answered"},
            "error": {"help_text": "Why it did not count as delivered (empty for a 2xx)"},
            "response_excerpt": {"help_text": "The first KB of the answer's body"},
        }


class DeliveryOutput(serializers.ModelSerializer):
    attempts = AttemptOutput(many=True, source="attempt_rows", help_text="Every attempt, oldest first")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event", "state", "created_at", "delivered_at", "next_attempt_at", "payload", "attempts"]
        extra_kwargs = {
            "id": {"help_text": "The delivery id, sent as `X-MediaPortal-Delivery`"},
            "state": {"help_text": "pending, delivered or failed"},
            "payload": {"help_text": "The JSON body sent"},
        }


class WebhookListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(WebhookOutput), **errors(401, 403, 404)},
        description="The tenant's webhooks, newest first (owners and admins).",
    )
    def get(self, request, tenant_slug):
        queryset = webhooks.webhook_list(membership=self.membership)
        return paginate(self, request, queryset, WebhookOutput, ordering=("-created_at", "-id"))

    @extend_schema(
        tags=TAGS,
        request=WebhookInput,
        responses={201: WebhookOutput, **errors(400, 401, 403, 404)},
        description=(
            "Register a URL for events. 400 `invalid_url`, `invalid_events`, `invalid_secret`, or "
            "`webhook_private_target` for a literal private, loopback or link-local address (unless the server "
            "allows private networks; names are checked at each delivery). The answer holds the secret in full."
        ),
    )
    def post(self, request, tenant_slug):
        data = WebhookInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        webhook = webhooks.webhook_create(
            membership=self.membership, url=values["url"], events=values["events"], secret=values.get("secret")
        )
        return Response(WebhookOutput(webhook, context={"reveal": True}).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, responses={200: WebhookOutput, **errors(401, 403, 404)})
    def get(self, request, tenant_slug, webhook_id):
        return Response(WebhookOutput(webhooks.webhook_get(membership=self.membership, webhook_id=webhook_id)).data)

    @extend_schema(
        tags=TAGS, request=WebhookInput(partial=True), responses={200: WebhookOutput, **errors(400, 401, 403, 404)}
    )
    def patch(self, request, tenant_slug, webhook_id):
        # The webhook first: another tenant's is a 404 whatever the body says.
        webhooks.webhook_get(membership=self.membership, webhook_id=webhook_id)
        data = WebhookInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        webhook = webhooks.webhook_update(membership=self.membership, webhook_id=webhook_id, data=data.validated_data)
        return Response(WebhookOutput(webhook).data)

    @extend_schema(tags=TAGS, responses={204: None, **errors(401, 403, 404)})
    def delete(self, request, tenant_slug, webhook_id):
        webhooks.webhook_delete(membership=self.membership, webhook_id=webhook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(DeliveryOutput), **errors(401, 403, 404)},
        description="The webhook's deliveries, newest first, each with every attempt.",
    )
    def get(self, request, tenant_slug, webhook_id):
        queryset = webhooks.delivery_list(membership=self.membership, webhook_id=webhook_id)
        return paginate(self, request, queryset, DeliveryOutput, ordering=("-created_at", "-id"))


class PingView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={202: DeliveryOutput, **errors(401, 403, 404)},
        description="Queue a `ping` delivery to the webhook (sent even while it is paused), to test the receiver.",
    )
    def post(self, request, tenant_slug, webhook_id):
        delivery = webhooks.webhook_ping(membership=self.membership, webhook_id=webhook_id)
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class RedeliverView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={202: DeliveryOutput, **errors(401, 403, 404, 409)},
        description=(
            "Send a delivered or failed delivery's event again, as a new delivery (its own id and attempts). "
            "409 `delivery_pending` while the delivery is still being sent."
        ),
    )
    def post(self, request, tenant_slug, webhook_id, delivery_id):
        delivery = webhooks.delivery_redeliver(
            membership=self.membership, webhook_id=webhook_id, delivery_id=delivery_id
        )
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)
