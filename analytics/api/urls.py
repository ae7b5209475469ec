from django.urls import path

from analytics.api import cost_alerts, views

T = "tenants/<slug:tenant_slug>/analytics/"
urlpatterns = [
    path(T + "activity/", views.ActivityView.as_view(), name="analytics-activity"),
    path(T + "storage/", views.StorageView.as_view(), name="analytics-storage"),
    path(T + "file-types/", views.FileTypesView.as_view(), name="analytics-file-types"),
    path(T + "usage/", views.UsageView.as_view(), name="analytics-usage"),
    path(T + "categories/", views.CategoriesView.as_view(), name="analytics-categories"),
    path(T + "cost/", cost_alerts.CostView.as_view(), name="analytics-cost"),
    path("tenants/<slug:tenant_slug>/alerts/", cost_alerts.AlertListView.as_view(), name="alerts"),
]
