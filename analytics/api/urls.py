from django.urls import path

from analytics.api import cost_alerts, views, webhooks

A = "tenants/<slug:tenant_slug>/analytics/"
T = "tenants/<slug:tenant_slug>/"
W = T + "webhooks/<uuid:webhook_id>/"

urlpatterns = [
    path(A + "activity/", views.ActivityView.as_view(), name="analytics-activity"),
    path(A + "storage/", views.StorageView.as_view(), name="analytics-storage"),
    path(A + "file-types/", views.FileTypesView.as_view(), name="analytics-file-types"),
    path(A + "usage/", views.UsageView.as_view(), name="analytics-usage"),
    path(A + "categories/", views.CategoriesView.as_view(), name="analytics-categories"),
    path(A + "cost/", cost_alerts.CostView.as_view(), name="analytics-cost"),
    path(T + "alerts/", cost_alerts.AlertListView.as_view(), name="alerts"),
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
