from django.urls import path

from sharing.api import views

urlpatterns = [
    path("tenants/<slug:tenant_slug>/shares/", views.ShareListView.as_view(), name="share-list"),
    path("tenants/<slug:tenant_slug>/shares/<uuid:share_id>/", views.ShareDetailView.as_view(), name="share-detail"),
]
