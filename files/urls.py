from django.urls import path

from files import views

urlpatterns = [
    path("t/<slug:tenant_slug>/", views.browse, name="portal-browse"),
    path("t/<slug:tenant_slug>/folders/<uuid:folder_id>/", views.browse, name="portal-folder"),
    path("t/<slug:tenant_slug>/files/<uuid:file_id>/", views.file_page, name="portal-file"),
    path("t/<slug:tenant_slug>/upload/", views.upload, name="portal-upload"),
    path("t/<slug:tenant_slug>/folders/new/", views.new_folder, name="portal-new-folder"),
    path("t/<slug:tenant_slug>/files/<uuid:file_id>/download/", views.download, name="portal-download"),
]
