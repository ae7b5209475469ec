from django.urls import path

from analytics import monitoring, views

T = "t/<slug:tenant_slug>/"

urlpatterns = [
    # At the site's root, where Prometheus looks by default.
    path("metrics", monitoring.metrics, name="metrics"),
    path(T + "files/<uuid:file_id>/activity/", views.file_activity_panel, name="portal-file-activity"),
    path(T + "settings/webhooks/", views.webhooks_page, name="portal-webhooks"),
    path(T + "settings/webhooks/status/", views.webhooks_status, name="portal-webhooks-status"),
    path(T + "settings/webhooks/<uuid:webhook_id>/test/", views.webhook_test, name="portal-webhook-test"),
    path(T + "settings/webhooks/<uuid:webhook_id>/delete/", views.webhook_delete, name="portal-webhook-delete"),
]
