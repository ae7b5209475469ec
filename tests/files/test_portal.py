from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role
from files.models import File, Folder
from files.services.processing_run import file_process
from tests.factories import PASSWORD, MembershipFactory
from tests.files.conftest import tenant_objects
from tests.helpers import CORPUS

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(tenant):
    membership = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=membership.user.username, password=PASSWORD)
    client.user = membership.user
    return client


def csrf(client, url) -> str:
    client.get(url)
    return client.cookies["csrftoken"].value


def test_home_links_to_the_tenant_and_the_page_lists_folders_and_files(browser, tenant):
    assert f"/t/{tenant.slug}/" in browser.get("/").content.decode()
    url = f"/t/{tenant.slug}/"
    token = csrf(browser, url)
    response = browser.post(f"/t/{tenant.slug}/folders/new/", {"name": "Holidays", "csrfmiddlewaretoken": token})
    folder = Folder.objects.get(tenant=tenant, name="Holidays")
    assert response.status_code == 302 and response["Location"].endswith(f"/folders/{folder.pk}/")
    with open(CORPUS / "photo_exif" / "court-exif.jpg", "rb") as photo:
        uploaded = browser.post(f"{url}upload/?folder={folder.pk}", {"file": photo, "csrfmiddlewaretoken": token})
    assert uploaded.status_code == 302
    file = File.objects.get(tenant=tenant, folder=folder)
    assert file.name == "court-exif.jpg" and len(tenant_objects(tenant)) == 1
    file_process(file_id=file.pk)

    root = browser.get(url).content.decode()
    assert "Holidays" in root and "1 file" in root and "it is being processed" in root
    inside = browser.get(url, {"folder": str(folder.pk)}).content.decode()
    assert "court-exif.jpg" in inside and "<img src=" in inside
    found = browser.get(f"{url}search/", {"q": "nikon"}).content.decode()
    assert "court-exif.jpg" in found
    download = browser.get(f"/t/{tenant.slug}/files/{file.pk}/download/")
    assert download.status_code == 302 and "X-Amz-Signature" in download["Location"]


def test_upload_without_csrf_token_is_refused_and_stores_nothing(browser, tenant):
    with open(CORPUS / "text" / "crazyones.txt", "rb") as text:
        response = browser.post(f"/t/{tenant.slug}/upload/", {"file": text})
    assert response.status_code == 403
    assert not File.objects.exists() and tenant_objects(tenant) == []


def test_refused_upload_shows_the_reason(browser, tenant):
    url = f"/t/{tenant.slug}/"
    token = csrf(browser, url)
    with open(CORPUS / "broken_or_malicious" / "vacation_photo.jpg", "rb") as exe:
        response = browser.post(f"{url}upload/", {"file": exe, "csrfmiddlewaretoken": token}, follow=True)
    assert "Executable programs are not accepted." in response.content.decode()
    assert not File.objects.exists()


def test_other_tenants_pages_are_404_and_anonymous_users_go_to_login(browser, tenant):
    other = MembershipFactory(role=Role.OWNER)
    assert browser.get(f"/t/{other.tenant.slug}/").status_code == 404
    import uuid

    assert browser.get(f"/t/{tenant.slug}/files/{uuid.uuid4()}/download/").status_code == 404
    anonymous = Client().get(f"/t/{tenant.slug}/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_search_snippets_show_the_text_as_written_with_the_matches_marked(browser, tenant):
    from tests.files.conftest import upload
    from tests.helpers import client_for

    api = client_for(browser.user)
    description = 'Tom & Jerry\'s "walrus" show'
    file_id = upload(api, tenant, "cartoon.txt", b"nothing here", description=description).json()["id"]
    file_process(file_id=file_id)

    assert browser.get(f"/t/{tenant.slug}/", {"q": "walrus"})["Location"] == f"/t/{tenant.slug}/search/?q=walrus"
    page = browser.get(f"/t/{tenant.slug}/search/", {"q": "walrus"}).content.decode()

    assert "<mark>walrus</mark>" in page
    assert "Tom &amp; Jerry&#x27;s &quot;<mark>walrus</mark>&quot; show" in page
    assert "&amp;amp;" not in page and "&amp;quot;" not in page
