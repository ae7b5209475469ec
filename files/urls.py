from django.urls import path

from files.views import actions, browse, bulk, file, folders

urlpatterns = [
    path("t/<slug:tenant_slug>/", browse.browse, name="portal-browse"),
    path("t/<slug:tenant_slug>/folders/<uuid:folder_id>/", browse.browse, name="portal-folder"),
    path("t/<slug:tenant_slug>/browse/status/", browse.browse_status, name="portal-browse-status"),
    path("t/<slug:tenant_slug>/browse/count/", browse.browse_count, name="portal-browse-count"),
    path("t/<slug:tenant_slug>/browse/tree/", browse.folder_tree, name="portal-folder-tree"),
    path("t/<slug:tenant_slug>/browse/folders/", browse.folder_picker, name="portal-folder-picker"),
    path("t/<slug:tenant_slug>/browse/bulk/", bulk.bulk_action, name="portal-bulk"),
    path("t/<slug:tenant_slug>/files/<uuid:file_id>/", file.file_page, name="portal-file"),
    path("t/<slug:tenant_slug>/files/<uuid:file_id>/thumbnail/<str:fmt>/", browse.thumbnail, name="portal-thumbnail"),
    path("t/<slug:tenant_slug>/upload/", actions.upload, name="portal-upload"),
    path("t/<slug:tenant_slug>/folders/new/", actions.new_folder, name="portal-new-folder"),
    path("t/<slug:tenant_slug>/folders/<uuid:folder_id>/rename/", folders.folder_rename, name="portal-folder-rename"),
    path("t/<slug:tenant_slug>/folders/<uuid:folder_id>/move/", folders.folder_move, name="portal-folder-move"),
    path("t/<slug:tenant_slug>/folders/<uuid:folder_id>/delete/", folders.folder_delete, name="portal-folder-delete"),
    path("t/<slug:tenant_slug>/files/<uuid:file_id>/download/", actions.download, name="portal-download"),
]
