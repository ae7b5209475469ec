from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.forms import AdminLoginForm, PortalLoginForm
from files import views as files_views
from mediaportal import ops, views
from sharing import views as sharing_views

admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="login.html", authentication_form=PortalLoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("t/<slug:tenant_slug>/", files_views.browse, name="portal-browse"),
    path("t/<slug:tenant_slug>/upload/", files_views.upload, name="portal-upload"),
    path("t/<slug:tenant_slug>/folders/new/", files_views.new_folder, name="portal-new-folder"),
    path("t/<slug:tenant_slug>/files/<uuid:file_id>/download/", files_views.download, name="portal-download"),
    path("p/<uuid:file_id>", sharing_views.public_file, name="public-file"),
    path("p/<uuid:file_id>/download", sharing_views.public_download, name="public-file-download"),
    path("s/<str:token>", sharing_views.share_page, name="share-page"),
    path("s/<str:token>/download", sharing_views.share_download, name="share-download"),
    path("s/<str:token>/files/<uuid:file_id>/download", sharing_views.share_file_download, name="share-file-download"),
    path("s/<str:token>/zip", sharing_views.share_zip, name="share-zip"),
    path("s/<str:token>/upload", sharing_views.share_upload, name="share-upload"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("files.api.urls")),
    path("api/v1/", include("sharing.api.urls")),
    path("api/v1/", include("analytics.api.urls")),
]

handler400 = "mediaportal.views.bad_request"
handler403 = "mediaportal.views.permission_denied"
handler404 = "mediaportal.views.not_found"
handler500 = "mediaportal.views.server_error"
