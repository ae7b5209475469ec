"""The portal's file page (files.views.file): preview, metadata, edit, versions, delete."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import ActivityEvent, PublicFiles, Role
from files.models import File, FileStatus, FileVersion, Folder
from files.services.processing_run import file_process
from sharing.services.grants import grant_set
from tests.factories import MembershipFactory
from tests.files.conftest import sha, upload
from tests.helpers import CORPUS, client_for

pytestmark = pytest.mark.django_db

PHOTO = CORPUS / "photo_exif" / "court-exif.jpg"
PDF = CORPUS / "document_pdf" / "crazyones.pdf"
TEXT = CORPUS / "text" / "crazyones.txt"


def someone(tenant, role: str = Role.EDITOR) -> SimpleNamespace:
    """A member of `tenant` with a signed-in browser (`web`) and an API client (`api`)."""
    membership = MembershipFactory(tenant=tenant, role=role)
    web = Client()
    web.force_login(membership.user)
    return SimpleNamespace(web=web, api=client_for(membership.user), user=membership.user, membership=membership)


@pytest.fixture
def person(tenant):
    """person(role, tenant_=None): someone in `tenant` (or `tenant_`)."""
    return lambda role=Role.EDITOR, tenant_=None: someone(tenant_ or tenant, role)


def put(who, tenant, path, *, name=None, process=True, **fields) -> File:
    response = upload(who.api, tenant, name or path.name, path.read_bytes(), **fields)
    assert response.status_code == 201, response.content
    file = File.objects.get(pk=response.json()["id"])
    if process:
        file_process(file_id=file.pk)
        file.refresh_from_db()
    return file


def page_url(tenant, file, rest: str = "") -> str:
    return f"/t/{tenant.slug}/files/{file.pk}/{rest}"


def fetched(url: str) -> requests.Response:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text[:200]
    return response


def test_a_photo_page_shows_the_picture_its_camera_and_dimensions(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, PHOTO)
    html = owner.web.get(page_url(tenant, file)).content.decode()
    meta = file.metadata
    assert f"<h1>{file.name}</h1>" in html
    assert '<th scope="row">Dimensions</th><td>500 × 375</td>' in html
    assert f"<td>{meta['camera_make']} {meta['camera_model']}</td>" in html
    assert '<th scope="row">Taken</th><td>2003-11-23 18:07:37</td>' in html
    assert '<th scope="row">Exposure</th>' in html and file.sha256 in html
    # WebP sources at two sizes with a JPEG fallback.
    assert '<source type="image/webp" srcset="' in html and " 500w" in html
    assert ".jpeg" in html.split('<img class="preview"')[1].split(">")[0]
    assert f'href="/t/{tenant.slug}/files/{file.pk}/download/">Download</a>' in html
    assert ">Delete</button>" in html and 'id="versions-heading">Versions</h2>' in html
    # The panels of the other apps come by htmx.
    for panel in ("links/", "permissions/", "activity/"):
        assert f'hx-get="/t/{tenant.slug}/files/{file.pk}/{panel}"' in html


def test_gps_gives_a_map_link(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, PHOTO)
    File.objects.filter(pk=file.pk).update(metadata={**file.metadata, "gps": {"lat": 48.8584, "lon": 2.2945}})
    html = owner.web.get(page_url(tenant, file)).content.decode()
    assert 'href="https://www.openstreetmap.org/?mlat=48.8584&amp;mlon=2.2945#map=15/48.8584/2.2945"' in html


def test_a_pending_file_polls_until_processed_then_the_page_reloads(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, PHOTO, process=False)
    html = owner.web.get(page_url(tenant, file)).content.decode()
    assert 'hx-trigger="every 2s"' in html and ">pending</span>" in html
    polled = owner.web.get(page_url(tenant, file, "status/"))
    assert polled.status_code == 200 and 'hx-trigger="every 2s"' in polled.content.decode()
    file_process(file_id=file.pk)
    done = owner.web.get(page_url(tenant, file, "status/"))
    assert done.status_code == 200 and done["HX-Trigger"] == "file-processed"
    assert 'hx-trigger="every 2s"' not in done.content.decode() and "<picture>" in done.content.decode()
    assert 'hx-trigger="every 2s"' not in owner.web.get(page_url(tenant, file)).content.decode()


def test_a_failed_file_shows_its_error_and_can_be_reprocessed(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, TEXT)
    File.objects.filter(pk=file.pk).update(status=FileStatus.FAILED, error="The PDF could not be parsed.")
    html = owner.web.get(page_url(tenant, file)).content.decode()
    assert "Processing failed: The PDF could not be parsed." in html and ">Reprocess</button>" in html
    response = owner.web.post(page_url(tenant, file, "reprocess/"))
    assert response.status_code == 302 and response["Location"] == page_url(tenant, file)
    file.refresh_from_db()
    assert file.status == FileStatus.PENDING and file.error == ""
    assert ActivityEvent.objects.filter(verb="file.reprocessed", target_id=str(file.pk)).exists()


def test_a_pdf_page_shows_its_first_page_and_the_inline_viewer(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, PDF)
    html = owner.web.get(page_url(tenant, file)).content.decode()
    assert f'alt="First page of {file.name}"' in html
    assert '<th scope="row">Pages</th><td>1</td>' in html
    src = html.split('<iframe class="pdf-viewer" src="')[1].split('"')[0].replace("&amp;", "&")
    shown = fetched(src)
    assert shown.headers["Content-Type"] == "application/pdf"
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert "X-Frame-Options" not in shown.headers  # the page may frame it
    assert shown.content == PDF.read_bytes()


def test_a_text_document_shows_an_excerpt(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, TEXT)
    html = owner.web.get(page_url(tenant, file)).content.decode()
    assert '<pre class="excerpt">' in html and "The round pegs in the square holes." in html
    assert "<iframe" not in html


def test_edit_changes_tags_description_name_folder_and_visibility(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, TEXT)
    folder = Folder.objects.create(tenant=tenant, name="Essays", path="/Essays/", created_by=owner.user)
    data = {
        "name": "crazy.txt",
        "description": "Apple, 1997",
        "tags": "Quotes, apple",
        "folder": str(folder.pk),
        "visibility": "private",
    }
    response = owner.web.post(page_url(tenant, file, "edit/"), data)
    assert response.status_code == 302
    file.refresh_from_db()
    assert (file.name, file.description, file.tags, file.folder_id, file.visibility) == (
        "crazy.txt",
        "Apple, 1997",
        ["quotes", "apple"],
        folder.pk,
        "private",
    )
    event = ActivityEvent.objects.get(verb="file.updated", target_id=str(file.pk))
    assert set(event.data["fields"]) == {"name", "description", "tags", "folder", "visibility"}
    html = owner.web.get(page_url(tenant, file)).content.decode()
    assert "Saved." in html and '<span class="tag">quotes</span>' in html and "Apple, 1997" in html
    assert f'href="/t/{tenant.slug}/folders/{folder.pk}/">Essays</a>' in html


def test_edit_refusals_are_shown_next_to_the_field_and_change_nothing(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, TEXT)
    put(owner, tenant, PHOTO)
    base = {"name": file.name, "description": "", "tags": "", "folder": "", "visibility": "tenant"}
    taken = owner.web.post(page_url(tenant, file, "edit/"), {**base, "name": "court-exif.jpg", "tags": "new"})
    html = taken.content.decode()
    assert taken.status_code == 400
    assert 'id="edit-name-error"><li>“court-exif.jpg” already exists in that folder.</li>' in html
    tenant.public_files = PublicFiles.NOBODY
    tenant.save()
    public = owner.web.post(page_url(tenant, file, "edit/"), {**base, "visibility": "public"})
    assert public.status_code == 400
    assert (
        '<ul class="errorlist" id="edit-visibility-error"><li>This tenant does not allow public files; '
        "share a link instead.</li>" in public.content.decode()
    )
    file.refresh_from_db()
    assert file.name == "crazyones.txt" and file.tags == [] and file.visibility == "tenant"


def test_an_editor_without_share_may_not_move_or_change_visibility(person, tenant):
    owner, editor = person(Role.OWNER), person(Role.EDITOR)
    file = put(owner, tenant, TEXT)
    grant_set(membership=owner.membership, target=file, permissions=["view", "change"], user_id=editor.user.pk)
    html = editor.web.get(page_url(tenant, file)).content.decode()
    assert 'id="edit-folder" name="folder" disabled' in html and 'name="visibility" disabled' in html
    assert ">Delete</button>" not in html
    response = editor.web.post(page_url(tenant, file, "edit/"), {"name": file.name, "tags": "mine"})
    assert response.status_code == 302
    file.refresh_from_db()
    assert file.tags == ["mine"] and file.visibility == "tenant"


def test_a_viewer_sees_the_page_but_may_not_change_it(person, tenant):
    owner, viewer = person(Role.OWNER), person(Role.VIEWER)
    file = put(owner, tenant, TEXT)
    html = viewer.web.get(page_url(tenant, file)).content.decode()
    assert "Save changes" not in html and ">Delete</button>" not in html and "Add version" not in html
    assert ">Download</a>" in html
    assert viewer.web.post(page_url(tenant, file, "edit/"), {"name": "x.txt"}).status_code == 403
    assert viewer.web.post(page_url(tenant, file, "delete/")).status_code == 403
    assert viewer.web.post(page_url(tenant, file, "reprocess/")).status_code == 403
    assert viewer.web.post(page_url(tenant, file, "versions/1/restore/")).status_code == 403
    new = SimpleUploadedFile("v2.txt", b"other bytes")
    assert viewer.web.post(page_url(tenant, file, "versions/"), {"file": new}).status_code == 403
    file.refresh_from_db()
    assert file.name == "crazyones.txt" and file.deleted_at is None and file.versions.count() == 1


def test_outsiders_and_other_tenants_get_404(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, TEXT)
    private = put(owner, tenant, PHOTO)
    File.objects.filter(pk=private.pk).update(visibility="private")
    stranger = person(Role.OWNER, tenant_=MembershipFactory(role=Role.OWNER).tenant)
    assert stranger.web.get(page_url(tenant, file)).status_code == 404
    other_slug = stranger.membership.tenant.slug
    assert stranger.web.get(f"/t/{other_slug}/files/{file.pk}/").status_code == 404
    assert stranger.web.post(f"/t/{other_slug}/files/{file.pk}/delete/").status_code == 404
    colleague = person(Role.EDITOR)
    assert colleague.web.get(page_url(tenant, private)).status_code == 404
    assert colleague.web.get(page_url(tenant, private, "status/")).status_code == 404
    assert owner.web.get(f"/t/{tenant.slug}/files/{uuid.uuid4()}/").status_code == 404
    assert Client().get(page_url(tenant, file)).status_code == 302  # to the login page


def test_versions_upload_restore_and_download_bytes(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, TEXT)
    first = TEXT.read_bytes()
    second = b"The second version of the essay.\n"
    new = SimpleUploadedFile("anything.txt", second, content_type="text/plain")
    response = owner.web.post(
        page_url(tenant, file, "versions/"), {"file": new, "comment": "shorter", "idempotency_key": "k-1"}
    )
    assert response.status_code == 302
    v2 = FileVersion.objects.get(file=file, number=2)
    assert v2.comment == "shorter" and v2.uploaded_by == owner.user and v2.blob.sha256 == sha(second)
    html = owner.web.get(page_url(tenant, file)).content.decode()
    assert "Version 2 uploaded" in html and "shorter" in html and 'aria-label="Restore version 1"' in html

    got = owner.web.get(page_url(tenant, file, "versions/1/download/"))
    assert got.status_code == 302 and fetched(got["Location"]).content == first
    restored = owner.web.post(page_url(tenant, file, "versions/1/restore/"))
    assert restored.status_code == 302
    file.refresh_from_db()
    assert file.current_version.number == 3 and file.sha256 == sha(first)
    current = owner.web.get(f"/t/{tenant.slug}/files/{file.pk}/download/")
    assert fetched(current["Location"]).content == first
    assert "Version 1 restored as version 3." in owner.web.get(page_url(tenant, file)).content.decode()


def test_a_refused_version_upload_says_why(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, TEXT)
    empty = SimpleUploadedFile("empty.txt", b"")
    response = owner.web.post(page_url(tenant, file, "versions/"), {"file": empty}, follow=True)
    assert "The file is empty." in response.content.decode()
    assert file.versions.count() == 1


def test_delete_moves_the_file_to_the_trash_and_goes_back_to_its_folder(person, tenant):
    owner = person(Role.OWNER)
    folder = Folder.objects.create(tenant=tenant, name="Old", path="/Old/", created_by=owner.user)
    file = put(owner, tenant, TEXT, folder=str(folder.pk))
    response = owner.web.post(page_url(tenant, file, "delete/"))
    assert response.status_code == 302 and response["Location"] == f"/t/{tenant.slug}/folders/{folder.pk}/"
    file.refresh_from_db()
    assert file.deleted_at is not None and file.deleted_by == owner.user
    assert owner.web.get(page_url(tenant, file)).status_code == 404


def _queries(web, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert web.get(url).status_code == 200
    return len(captured)


def test_the_page_makes_the_same_queries_whatever_the_number_of_versions(person, tenant, django_assert_num_queries):
    editor = person(Role.EDITOR)
    file = put(editor, tenant, PHOTO)
    url = page_url(tenant, file)
    editor.web.get(url)  # the first team page fills the cache of the alert banner's alerts
    one = _queries(editor.web, url)
    for n in range(4):
        editor.api.post(
            f"/api/v1/tenants/{tenant.slug}/files/{file.pk}/versions/",
            {"file": SimpleUploadedFile("v.jpg", PHOTO.read_bytes() + bytes([n]))},
            format="multipart",
        )
    file_process(file_id=file.pk)
    assert file.versions.count() == 5
    with django_assert_num_queries(one):
        editor.web.get(url)
    # Pinned: session, user, membership, the file (with owner, folder, version, blob), the
    # rights on it, its renditions (once: the file is fetched without the list prefetch), its
    # versions (with uploaders and blobs), the folder picker.
    assert one == PAGE_QUERIES


PAGE_QUERIES = 8
