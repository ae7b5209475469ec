from django.urls import path

from analytics.api import views

urlpatterns = [
    path("tenants/<slug:tenant_slug>/analytics/activity/", views.ActivityView.as_view(), name="analytics-activity"),
]
