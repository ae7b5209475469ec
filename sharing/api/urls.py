from django.urls import path

from sharing.api import views

T = "tenants/<slug:tenant_slug>/"


def grants(kind: str, prefix: str) -> list:
    return [
        path(
            f"{T}{prefix}/<uuid:object_id>/permissions/",
            views.GrantListView.as_view(kind=kind),
            name=f"{kind}-permissions",
        ),
        path(
            f"{T}{prefix}/<uuid:object_id>/permissions/<uuid:grant_id>/",
            views.GrantDetailView.as_view(kind=kind),
            name=f"{kind}-permission-detail",
        ),
    ]


urlpatterns = [
    path(T + "shares/", views.ShareListView.as_view(), name="share-list"),
    path(T + "shares/<uuid:share_id>/", views.ShareDetailView.as_view(), name="share-detail"),
    path(T + "shares/<uuid:share_id>/receipts/", views.ShareReceiptsView.as_view(), name="share-receipts"),
    path(T + "groups/", views.GroupListView.as_view(), name="group-list"),
    path(T + "groups/<uuid:group_id>/", views.GroupDetailView.as_view(), name="group-detail"),
    *grants("file", "files"),
    *grants("folder", "folders"),
]
