"""The URL map. Apps are included by module name: this package is below them all and
imports none of them (see docs/architecture.md)."""

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from mediaportal import ops

urlpatterns = [
    path("", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("", include("files.urls")),
    path("", include("sharing.urls")),
    path("", include("analytics.urls")),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's own script is served as a file (the split view), so the page needs no inline
    # script; its components set inline styles.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("files.api.urls")),
    path("api/v1/", include("sharing.api.urls")),
    path("api/v1/", include("analytics.api.urls")),
]

handler400 = "mediaportal.views.bad_request"
handler403 = "mediaportal.views.permission_denied"
handler404 = "mediaportal.views.not_found"
handler500 = "mediaportal.views.server_error"
