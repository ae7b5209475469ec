from django.urls import path

from sharing import views, views_file

F = "t/<slug:tenant_slug>/files/<uuid:file_id>/"

urlpatterns = [
    path("p/<uuid:file_id>", views.public_file, name="public-file"),
    path("p/<uuid:file_id>/download", views.public_download, name="public-file-download"),
    path("s/<str:token>", views.share_page, name="share-page"),
    path("s/<str:token>/download", views.share_download, name="share-download"),
    path("s/<str:token>/files/<uuid:file_id>/download", views.share_file_download, name="share-file-download"),
    path("s/<str:token>/zip", views.share_zip, name="share-zip"),
    path("s/<str:token>/upload", views.share_upload, name="share-upload"),
    # The file page's panels (loaded into files' page by htmx).
    path(F + "permissions/", views_file.file_permissions, name="portal-file-permissions"),
    path(
        F + "permissions/<uuid:grant_id>/remove/",
        views_file.file_permission_remove,
        name="portal-file-permission-remove",
    ),
    path(F + "links/", views_file.file_links, name="portal-file-links"),
    path(F + "links/<uuid:share_id>/revoke/", views_file.file_link_revoke, name="portal-file-link-revoke"),
]
