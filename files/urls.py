"""The portal's pages of files: browsing, the file page, search, trash, uploads, exports."""

from django.urls import path

from files.views import actions, browse, bulk, exports, file, folders, ocr, search, similar, trash

T = "t/<slug:tenant_slug>/"
F = T + "files/<uuid:file_id>/"

urlpatterns = [
    # Browsing a folder, and what the browse page asks for while it is open.
    path(T, browse.browse, name="portal-browse"),
    path(T + "folders/<uuid:folder_id>/", browse.browse, name="portal-folder"),
    path(T + "browse/status/", browse.browse_status, name="portal-browse-status"),
    path(T + "browse/count/", browse.browse_count, name="portal-browse-count"),
    path(T + "browse/tree/", browse.folder_tree, name="portal-folder-tree"),
    path(T + "browse/folders/", browse.folder_picker, name="portal-folder-picker"),
    path(T + "browse/bulk/", bulk.bulk_action, name="portal-bulk"),
    path(T + "upload/", actions.upload, name="portal-upload"),
    path(T + "folders/new/", actions.new_folder, name="portal-new-folder"),
    path(T + "folders/<uuid:folder_id>/rename/", folders.folder_rename, name="portal-folder-rename"),
    path(T + "folders/<uuid:folder_id>/move/", folders.folder_move, name="portal-folder-move"),
    path(T + "folders/<uuid:folder_id>/delete/", folders.folder_delete, name="portal-folder-delete"),
    # The file page and its actions.
    path(F, file.file_page, name="portal-file"),
    path(F + "download/", actions.download, name="portal-download"),
    path(F + "retrieve/", actions.retrieve, name="portal-file-retrieve"),
    path(F + "thumbnail/<str:fmt>/", browse.thumbnail, name="portal-thumbnail"),
    path(F + "status/", file.file_status, name="portal-file-status"),
    path(F + "ocr/", ocr.file_ocr_panel, name="portal-file-ocr"),
    path(F + "edit/", file.file_edit, name="portal-file-edit"),
    path(F + "delete/", file.file_delete, name="portal-file-delete"),
    path(F + "reprocess/", file.file_reprocess_view, name="portal-file-reprocess"),
    path(F + "similar/", similar.file_similar_panel, name="portal-file-similar"),
    path(F + "versions/", file.version_upload, name="portal-file-version-upload"),
    path(F + "versions/<int:number>/restore/", file.version_restore, name="portal-file-version-restore"),
    path(F + "versions/<int:number>/download/", file.version_download, name="portal-file-version-download"),
    # Search and trash.
    path(T + "search/", search.search, name="portal-search"),
    path(T + "trash/", trash.trash_page, name="portal-trash"),
    path(T + "trash/empty/", trash.trash_empty, name="portal-trash-empty"),
    path(T + "trash/<uuid:item_id>/restore/", trash.trash_restore, name="portal-trash-restore"),
    path(T + "trash/<uuid:item_id>/purge/", trash.trash_purge, name="portal-trash-purge"),
    # Duplicates: groups of copies of one picture, and resolving them.
    path(T + "duplicates/", similar.duplicates_page, name="portal-duplicates"),
    path(T + "duplicates/resolve/", similar.duplicates_resolve, name="portal-duplicates-resolve"),
    # Team settings → Exports.
    path(T + "settings/exports/", exports.exports_page, name="portal-exports"),
    path(T + "settings/exports/status/", exports.exports_status, name="portal-exports-status"),
    path(T + "settings/exports/<uuid:export_id>/download/", exports.export_download, name="portal-export-download"),
]
