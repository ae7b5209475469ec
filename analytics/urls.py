from django.urls import path

from analytics import monitoring, views

urlpatterns = [
    # At the site's root, where Prometheus looks by default.
    path("metrics", monitoring.metrics, name="metrics"),
    path(
        "t/<slug:tenant_slug>/files/<uuid:file_id>/activity/",
        views.file_activity_panel,
        name="portal-file-activity",
    ),
]
