from django.urls import path

from sharing.views import file, groups, public, shares

F = "t/<slug:tenant_slug>/files/<uuid:file_id>/"

urlpatterns = [
    path("p/<uuid:file_id>", public.public_file, name="public-file"),
    path("p/<uuid:file_id>/download", public.public_download, name="public-file-download"),
    path("s/<str:token>", public.share_page, name="share-page"),
    path("s/<str:token>/download", public.share_download, name="share-download"),
    path("s/<str:token>/files/<uuid:file_id>/download", public.share_file_download, name="share-file-download"),
    path("s/<str:token>/zip", public.share_zip, name="share-zip"),
    path("s/<str:token>/upload", public.share_upload, name="share-upload"),
    path("t/<slug:tenant_slug>/shares/", shares.shares_page, name="portal-shares"),
    path("t/<slug:tenant_slug>/shares/<uuid:share_id>/revoke/", shares.share_revoke, name="portal-share-revoke"),
    path(
        "t/<slug:tenant_slug>/shares/<uuid:share_id>/receipts/",
        shares.share_receipts_page,
        name="portal-share-receipts",
    ),
    # The file page's panels (loaded into files' page by htmx).
    path(F + "permissions/", file.file_permissions, name="portal-file-permissions"),
    path(
        F + "permissions/<uuid:grant_id>/remove/",
        file.file_permission_remove,
        name="portal-file-permission-remove",
    ),
    path(F + "links/", file.file_links, name="portal-file-links"),
    path(F + "links/<uuid:share_id>/revoke/", file.file_link_revoke, name="portal-file-link-revoke"),
]

# The team's groups page.
urlpatterns += [
    path("t/<slug:tenant_slug>/groups/", groups.group_index, name="portal-groups"),
    path("t/<slug:tenant_slug>/groups/<uuid:group_id>/rename/", groups.group_rename, name="portal-group-rename"),
    path(
        "t/<slug:tenant_slug>/groups/<uuid:group_id>/members/add/",
        groups.group_member_add,
        name="portal-group-member-add",
    ),
    path(
        "t/<slug:tenant_slug>/groups/<uuid:group_id>/members/<uuid:user_id>/remove/",
        groups.group_member_remove,
        name="portal-group-member-remove",
    ),
    path("t/<slug:tenant_slug>/groups/<uuid:group_id>/delete/", groups.group_delete, name="portal-group-delete"),
]
