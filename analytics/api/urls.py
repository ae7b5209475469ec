from django.urls import path

from analytics.api import views, webhooks

T = "tenants/<slug:tenant_slug>/"
W = T + "webhooks/<uuid:webhook_id>/"

urlpatterns = [
    path(T + "analytics/activity/", views.ActivityView.as_view(), name="analytics-activity"),
    path(T + "webhooks/", webhooks.WebhookListView.as_view(), name="webhook-list"),
    path(W, webhooks.WebhookDetailView.as_view(), name="webhook-detail"),
    path(W + "deliveries/", webhooks.DeliveryListView.as_view(), name="webhook-deliveries"),
    path(W + "ping/", webhooks.PingView.as_view(), name="webhook-ping"),
    path(
        W + "deliveries/<uuid:delivery_id>/redeliver/",
        webhooks.RedeliverView.as_view(),
        name="webhook-redeliver",
    ),
]
