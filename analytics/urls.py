from django.urls import path

from analytics import views

urlpatterns = [
    path(
        "t/<slug:tenant_slug>/files/<uuid:file_id>/activity/",
        views.file_activity_panel,
        name="portal-file-activity",
    ),
    path("t/<slug:tenant_slug>/settings/analytics/", views.analytics_dashboard, name="portal-analytics"),
]
