from django.urls import path

from files import views, views_search, views_trash

urlpatterns = [
    path("t/<slug:tenant_slug>/", views.browse, name="portal-browse"),
    path("t/<slug:tenant_slug>/folders/<uuid:folder_id>/", views.browse, name="portal-folder"),
    path("t/<slug:tenant_slug>/files/<uuid:file_id>/", views.file_page, name="portal-file"),
    path("t/<slug:tenant_slug>/upload/", views.upload, name="portal-upload"),
    path("t/<slug:tenant_slug>/folders/new/", views.new_folder, name="portal-new-folder"),
    path("t/<slug:tenant_slug>/files/<uuid:file_id>/download/", views.download, name="portal-download"),
    path("t/<slug:tenant_slug>/search/", views_search.search, name="portal-search"),
    path("t/<slug:tenant_slug>/trash/", views_trash.trash_page, name="portal-trash"),
    path("t/<slug:tenant_slug>/trash/empty/", views_trash.trash_empty, name="portal-trash-empty"),
    path("t/<slug:tenant_slug>/trash/<uuid:item_id>/restore/", views_trash.trash_restore, name="portal-trash-restore"),
    path("t/<slug:tenant_slug>/trash/<uuid:item_id>/purge/", views_trash.trash_purge, name="portal-trash-purge"),
]
