from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission

from accounts.services.tenants import bootstrap_first_admin

pytestmark = pytest.mark.django_db


def test_bootstrap_creates_admin_once_and_admin_can_log_in(client):
    user, tenant, password = bootstrap_first_admin(password=None)
    assert user.username == "admin" and user.is_superuser and tenant.slug == "default"
    assert bootstrap_first_admin(password=None) is None
    response = client.post("/login/", {"login": "admin", "password": password, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200 and "Site administration" in page.content.decode()


def test_every_model_has_an_admin_page_that_renders(admin_client):
    from django.apps import apps

    ours = [m for m in apps.get_models() if m._meta.app_label in {"accounts", "files", "sharing", "analytics"}]
    assert ours
    for model in ours:
        assert admin.site.is_registered(model), model
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert admin_client.get(url).status_code == 200, url
        assert admin_client.get(url + "?q=x").status_code == 200, url
    assert Permission.objects.exists()


def test_grant_admins_filter_by_tenant_and_permission(admin_client):
    from accounts.models import Role
    from tests.factories import MembershipFactory
    from tests.files.conftest import upload
    from tests.helpers import client_for

    names = {}
    for label in ("alpha", "beta"):
        owner = MembershipFactory(role=Role.OWNER)
        reader = MembershipFactory(tenant=owner.tenant, role=Role.VIEWER)
        client = client_for(owner.user)
        file = upload(client, owner.tenant, f"{label}-file.txt", label.encode()).json()
        granted = client.post(
            f"/api/v1/tenants/{owner.tenant.slug}/files/{file['id']}/permissions/",
            {"user": str(reader.user.id), "permissions": ["view", "change"]},
            format="json",
        )
        assert granted.status_code == 201
        names[label] = owner.tenant
    page = admin_client.get(
        "/admin/files/fileuserpermission/", {"content_object__tenant__id__exact": str(names["alpha"].id)}
    ).content.decode()
    assert "alpha-file.txt" in page and "beta-file.txt" not in page
    view = Permission.objects.get(codename="view_file")
    page = admin_client.get("/admin/files/fileuserpermission/", {"permission__id__exact": view.pk}).content.decode()
    assert "2 file user permissions" in page  # one per tenant, not the change grants
