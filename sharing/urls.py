from django.urls import path

from sharing import views, views_file, views_groups, views_shares

F = "t/<slug:tenant_slug>/files/<uuid:file_id>/"

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

# The team's groups page (portal); views_groups is its own module so the public pages' views
# can grow apart from it.
urlpatterns += [
    path("t/<slug:tenant_slug>/groups/", views_groups.group_index, name="portal-groups"),
    path("t/<slug:tenant_slug>/groups/<uuid:group_id>/rename/", views_groups.group_rename, name="portal-group-rename"),
    path(
        "t/<slug:tenant_slug>/groups/<uuid:group_id>/members/add/",
        views_groups.group_member_add,
        name="portal-group-member-add",
    ),
    path(
        "t/<slug:tenant_slug>/groups/<uuid:group_id>/members/<uuid:user_id>/remove/",
        views_groups.group_member_remove,
        name="portal-group-member-remove",
    ),
    path("t/<slug:tenant_slug>/groups/<uuid:group_id>/delete/", views_groups.group_delete, name="portal-group-delete"),
]
