from django.urls import path

from analytics import monitoring
from analytics.views import activity, dashboard, webhooks

T = "t/<slug:tenant_slug>/"

urlpatterns = [
    # At the site's root, where Prometheus looks by default.
    path("metrics", monitoring.metrics, name="metrics"),
    path(T + "files/<uuid:file_id>/activity/", activity.file_activity_panel, name="portal-file-activity"),
    path(T + "settings/analytics/", dashboard.analytics_dashboard, name="portal-analytics"),
    path(T + "settings/webhooks/", webhooks.webhooks_page, name="portal-webhooks"),
    path(T + "settings/webhooks/status/", webhooks.webhooks_status, name="portal-webhooks-status"),
    path(T + "settings/webhooks/<uuid:webhook_id>/test/", webhooks.webhook_test, name="portal-webhook-test"),
    path(T + "settings/webhooks/<uuid:webhook_id>/delete/", webhooks.webhook_delete, name="portal-webhook-delete"),
]
