from django.urls import path

from files.api import exports, multipart, ocr, similar, views

T = "tenants/<slug:tenant_slug>/"

urlpatterns = [
    path(T + "folders/", views.FolderListView.as_view(), name="folder-list"),
    path(T + "folders/<uuid:folder_id>/", views.FolderDetailView.as_view(), name="folder-detail"),
    path(T + "folders/<uuid:folder_id>/retrieve/", views.FolderRetrieveView.as_view(), name="folder-retrieve"),
    path(T + "files/", views.FileListView.as_view(), name="file-list"),
    path(T + "files/<uuid:file_id>/", views.FileDetailView.as_view(), name="file-detail"),
    path(T + "files/<uuid:file_id>/download/", views.FileDownloadView.as_view(), name="file-download"),
    path(T + "files/<uuid:file_id>/renditions/<str:kind>/", views.FileRenditionView.as_view(), name="file-rendition"),
    path(T + "files/<uuid:file_id>/ocr/", ocr.FileOcrView.as_view(), name="file-ocr"),
    path(T + "files/<uuid:file_id>/reprocess/", views.FileReprocessView.as_view(), name="file-reprocess"),
    path(T + "files/<uuid:file_id>/retrieve/", views.FileRetrieveView.as_view(), name="file-retrieve"),
    path(T + "files/<uuid:file_id>/versions/", views.FileVersionListView.as_view(), name="file-versions"),
    path(
        T + "files/<uuid:file_id>/versions/<int:number>/restore/",
        views.FileVersionRestoreView.as_view(),
        name="file-version-restore",
    ),
    path(T + "files/<uuid:file_id>/similar/", similar.FileSimilarView.as_view(), name="file-similar"),
    path(T + "duplicates/", similar.DuplicateListView.as_view(), name="duplicate-list"),
    path(T + "duplicates/resolve/", similar.DuplicateResolveView.as_view(), name="duplicate-resolve"),
    path(T + "trash/", views.TrashListView.as_view(), name="trash-list"),
    path(T + "trash/empty/", views.TrashEmptyView.as_view(), name="trash-empty"),
    path(T + "trash/<uuid:item_id>/", views.TrashDetailView.as_view(), name="trash-detail"),
    path(T + "trash/<uuid:item_id>/restore/", views.TrashRestoreView.as_view(), name="trash-restore"),
    path(T + "search/", views.SearchView.as_view(), name="search"),
    path(T + "uploads/", views.UploadListView.as_view(), name="upload-list"),
    path(T + "uploads/multipart/", multipart.MultipartCreateView.as_view(), name="upload-multipart"),
    path(T + "uploads/<uuid:upload_id>/", multipart.UploadDetailView.as_view(), name="upload-detail"),
    path(T + "uploads/<uuid:upload_id>/parts/", multipart.MultipartPartsView.as_view(), name="upload-parts"),
    path(T + "uploads/<uuid:upload_id>/complete/", views.UploadCompleteView.as_view(), name="upload-complete"),
    path(T + "exports/", exports.ExportListView.as_view(), name="export-list"),
    path(T + "exports/<uuid:export_id>/", exports.ExportDetailView.as_view(), name="export-detail"),
    path(T + "exports/<uuid:export_id>/download/", exports.ExportDownloadView.as_view(), name="export-download"),
]
