from django.urls import path

from analytics.api import cost_alerts, views

urlpatterns = [
    path("tenants/<slug:tenant_slug>/analytics/activity/", views.ActivityView.as_view(), name="analytics-activity"),
    path("tenants/<slug:tenant_slug>/analytics/cost/", cost_alerts.CostView.as_view(), name="analytics-cost"),
    path("tenants/<slug:tenant_slug>/alerts/", cost_alerts.AlertListView.as_view(), name="alerts"),
]
