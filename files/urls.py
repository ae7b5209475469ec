from django.urls import path

from files import views, views_file, views_search, views_trash

T = "t/<slug:tenant_slug>/"
F = T + "files/<uuid:file_id>/"

urlpatterns = [
    path(T, views.browse, name="portal-browse"),
    path(T + "folders/<uuid:folder_id>/", views.browse, name="portal-folder"),
    path(T + "upload/", views.upload, name="portal-upload"),
    path(T + "folders/new/", views.new_folder, name="portal-new-folder"),
    path(F + "download/", views.download, name="portal-download"),
    # The file page and its actions.
    path(F, views_file.file_page, name="portal-file"),
    path(F + "status/", views_file.file_status, name="portal-file-status"),
    path(F + "edit/", views_file.file_edit, name="portal-file-edit"),
    path(F + "delete/", views_file.file_delete, name="portal-file-delete"),
    path(F + "reprocess/", views_file.file_reprocess_view, name="portal-file-reprocess"),
    path(F + "versions/", views_file.version_upload, name="portal-file-version-upload"),
    path(F + "versions/<int:number>/restore/", views_file.version_restore, name="portal-file-version-restore"),
    path(F + "versions/<int:number>/download/", views_file.version_download, name="portal-file-version-download"),
    # Search and trash.
    path(T + "search/", views_search.search, name="portal-search"),
    path(T + "trash/", views_trash.trash_page, name="portal-trash"),
    path(T + "trash/empty/", views_trash.trash_empty, name="portal-trash-empty"),
    path(T + "trash/<uuid:item_id>/restore/", views_trash.trash_restore, name="portal-trash-restore"),
    path(T + "trash/<uuid:item_id>/purge/", views_trash.trash_purge, name="portal-trash-purge"),
]
