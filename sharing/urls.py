from django.urls import path

from sharing import views, views_shares

urlpatterns = [
    path("p/<uuid:file_id>", views.public_file, name="public-file"),
    path("p/<uuid:file_id>/download", views.public_download, name="public-file-download"),
    path("s/<str:token>", views.share_page, name="share-page"),
    path("s/<str:token>/download", views.share_download, name="share-download"),
    path("s/<str:token>/files/<uuid:file_id>/download", views.share_file_download, name="share-file-download"),
    path("s/<str:token>/zip", views.share_zip, name="share-zip"),
    path("s/<str:token>/upload", views.share_upload, name="share-upload"),
    path("t/<slug:tenant_slug>/shares/", views_shares.shares_page, name="portal-shares"),
    path("t/<slug:tenant_slug>/shares/<uuid:share_id>/revoke/", views_shares.share_revoke, name="portal-share-revoke"),
]
