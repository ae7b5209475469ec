"""The browse page: grid and list, sorting, keyset pages, live status, bulk actions, the
folder actions and the admin's file list, through the Django test client."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ActivityEvent, Role
from files.models import File, FileStatus, Folder, Rendition
from files.views import browse as browse_view
from tests.factories import PASSWORD, MembershipFactory, current_versions_for
from tests.files.conftest import upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

NAME = re.compile(r'<span class="name">([^<]*)</span>')
NEXT = re.compile(r'hx-get="([^"]*partial=page[^"]*)"')


def portal(membership) -> Client:
    client = Client()
    assert client.login(username=membership.user.username, password=PASSWORD)
    client.membership = membership
    return client


@pytest.fixture
def editor_member(tenant):
    return MembershipFactory(tenant=tenant, role=Role.EDITOR)


@pytest.fixture
def web(editor_member):
    return portal(editor_member)


def make_files(tenant, owner, n: int, *, folder=None, status=FileStatus.COMPLETED, renditions=True, prefix="file"):
    """`n` files as rows (no bytes in S3): what a page lists, with thumbnails in both formats."""
    now = timezone.now()
    files = File.objects.bulk_create(
        [
            File(
                tenant=tenant,
                folder=folder,
                name=f"{prefix}-{i:03d}.jpg",
                owner=owner,
                size=1000 + (i * 7919) % 5000,
                content_type="image/jpeg" if i % 2 else "application/pdf",
                status=status,
                error="Broken image data." if status == FileStatus.FAILED else "",
            )
            for i in range(n)
        ]
    )
    # updated_at is auto_now: a spread of modification times needs an update of its own.
    for i, file in enumerate(files):
        File.objects.filter(pk=file.pk).update(updated_at=now - timedelta(minutes=(i * 37) % max(n, 1)))
    blobs = current_versions_for(files, owner=owner)
    if renditions:
        Rendition.objects.bulk_create(
            [
                Rendition(
                    tenant=tenant,
                    blob=b,
                    kind="thumbnail",
                    format=fmt,
                    width=200,
                    height=150,
                    size=100,
                    storage_key=f"tenants/{tenant.pk}/renditions/{b.sha256}/thumbnail.{fmt}",
                )
                for b in blobs
                for fmt in ("webp", "jpeg")
            ]
        )
    return files


def names_of_all_pages(web, url: str, params: dict) -> list[list[str]]:
    """The file names of each page, following the infinite scroll's next-page links."""
    pages = []
    html = web.get(url, params).content.decode()
    pages.append(NAME.findall(html))
    while match := NEXT.search(html):
        html = web.get(match.group(1).replace("&amp;", "&")).content.decode()
        pages.append(NAME.findall(html))
    return pages


# --- Listing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "order", "key"),
    [
        ("name", "asc", lambda f: f.name.lower()),
        ("name", "desc", lambda f: f.name.lower()),
        ("size", "asc", lambda f: (f.size, f.pk)),
        ("size", "desc", lambda f: (f.size, f.pk)),
        ("modified", "desc", lambda f: (f.updated_at, f.pk)),
        ("type", "asc", lambda f: (f.content_type, f.pk)),
    ],
)
def test_keyset_pages_are_disjoint_ordered_and_cover_the_folder(
    web, tenant, editor_member, monkeypatch, sort, order, key
):
    monkeypatch.setattr(browse_view, "PAGE_SIZE", 4)
    folder = Folder.objects.create(tenant=tenant, name="Big", path="/Big/")
    make_files(tenant, editor_member.user, 11, folder=folder)
    make_files(tenant, editor_member.user, 2, prefix="elsewhere")  # at the root: not listed

    pages = names_of_all_pages(web, f"/t/{tenant.slug}/folders/{folder.pk}/", {"sort": sort, "order": order})

    assert [len(p) for p in pages] == [4, 4, 3]
    expected = sorted(File.objects.filter(folder=folder), key=key, reverse=order == "desc")
    assert [name for page in pages for name in page] == [f.name for f in expected]


def test_grid_shows_thumbnails_as_picture_and_list_shows_the_columns(web, tenant, editor_member):
    make_files(tenant, editor_member.user, 2)
    grid = web.get(f"/t/{tenant.slug}/").content.decode()
    assert '<source type="image/webp" srcset="' in grid and 'loading="lazy"' in grid
    assert grid.count("<picture>") == 2 and 'aria-label="Select file-000.jpg"' in grid

    listed = web.get(f"/t/{tenant.slug}/", {"view": "list"})
    html = listed.content.decode()
    for column in ("Name", "Size", "Type", "Owner", "Modified", "Status"):
        assert f">{column}<" in html
    assert editor_member.user.username in html and "application/pdf" in html
    # The choice is remembered.
    assert listed.cookies["browse_view"].value == "list"
    assert "<table" in web.get(f"/t/{tenant.slug}/").content.decode()


def test_an_invalid_cursor_is_a_400(web, tenant):
    assert web.get(f"/t/{tenant.slug}/", {"cursor": "not-a-cursor"}).status_code == 400
    assert web.get(f"/t/{tenant.slug}/", {"cursor": "WzEsMl0", "sort": "name"}).status_code == 400


QUERIES = 11


def _queries(web, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert web.get(url, params or {}).status_code == 200
    return len(queries)


@pytest.mark.parametrize("view", ["grid", "list"])
def test_query_count_of_the_page_is_constant_in_the_files_shown(
    web, tenant, editor_member, view, django_assert_num_queries
):
    top = Folder.objects.create(tenant=tenant, name="Top", path="/Top/")
    folder = Folder.objects.create(tenant=tenant, name="In", path="/Top/In/", parent=top)
    Folder.objects.create(tenant=tenant, name="Sub", path="/Top/In/Sub/", parent=folder)
    url = f"/t/{tenant.slug}/folders/{folder.pk}/"
    make_files(tenant, editor_member.user, 5, folder=folder)
    web.get(url, {"view": view})  # warm the session and the cookie

    # user, membership, the teams (switcher), folder, breadcrumbs, tree, subfolders, files,
    # thumbnails, and the editor's rights on the folder (grants to them and to their groups)
    # for the folder actions.
    with django_assert_num_queries(QUERIES):
        web.get(url, {"view": view})
    make_files(tenant, editor_member.user, 45, folder=folder, prefix="more")
    with django_assert_num_queries(QUERIES):
        response = web.get(url, {"view": view})
    assert (
        response.content.decode().count('aria-label="Select file-')
        + response.content.decode().count('aria-label="Select more-')
        == 48
    )


def test_next_page_query_count_is_constant(web, tenant, editor_member):
    make_files(tenant, editor_member.user, 60)
    html = web.get(f"/t/{tenant.slug}/").content.decode()
    next_url = NEXT.search(html).group(1).replace("&amp;", "&")
    assert _queries(web, next_url) <= 6


# --- Live status -------------------------------------------------------------------------


def test_pending_files_are_polled_until_they_complete_or_fail(web, tenant, editor_member):
    pending = make_files(tenant, editor_member.user, 2, status=FileStatus.PENDING, renditions=False)
    html = web.get(f"/t/{tenant.slug}/").content.decode()
    assert 'hx-trigger="every 2s"' in html and html.count(">pending<") == 2
    status_url = re.search(r'hx-get="([^"]*browse/status/[^"]*)"', html).group(1).replace("&amp;", "&")

    unchanged = web.get(status_url).content.decode()
    assert 'hx-trigger="every 2s"' in unchanged and "hx-swap-oob" not in unchanged

    done, broken = pending
    File.objects.filter(pk=done.pk).update(status=FileStatus.COMPLETED)
    Rendition.objects.create(
        tenant=tenant, blob=done.current_version.blob, kind="thumbnail", format="jpeg", width=2, height=2, size=1,
        storage_key="k.jpeg",
    )  # fmt: skip
    File.objects.filter(pk=broken.pk).update(status=FileStatus.FAILED, error="Not an image after all.")

    answer = web.get(status_url).content.decode()
    assert answer.count('hx-swap-oob="true"') == 2
    assert f'id="file-{done.pk}"' in answer and "<img src=" in answer
    assert "Not an image after all." in answer
    assert "every 2s" not in answer  # nothing left to wait for: the polling stops


def test_the_status_endpoint_shows_nothing_of_another_tenant(web, tenant):
    other = MembershipFactory(role=Role.OWNER)
    foreign = make_files(other.tenant, other.user, 1, status=FileStatus.PENDING)[0]
    answer = web.get(f"/t/{tenant.slug}/browse/status/", {"poll": "abc", "f": f"{foreign.pk}.completed"})
    assert answer.status_code == 200 and foreign.name not in answer.content.decode()
    assert web.get(f"/t/{other.tenant.slug}/browse/status/", {"poll": "abc"}).status_code == 404


def test_the_listing_refreshes_when_uploads_finish(web, tenant):
    html = web.get(f"/t/{tenant.slug}/").content.decode()
    # One request after a burst, and a refresh asked for during another is queued, not dropped.
    assert 'hx-trigger="files-changed from:body delay:200ms"' in html and 'hx-sync="this:queue last"' in html
    assert 'hx-target="#listing"' in html


# --- Bulk actions ------------------------------------------------------------------------


def _bulk(web, tenant, **data):
    return web.post(f"/t/{tenant.slug}/browse/bulk/", data)


def _messages(response) -> list[str]:
    """What this response added to the messages (earlier ones wait for a page to show them)."""
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    return messages[-1:]


def test_bulk_trash_refuses_others_files_and_trashes_the_rest(web, tenant, editor_member):
    mine = make_files(tenant, editor_member.user, 2)
    colleague = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    theirs = make_files(tenant, colleague.user, 1, prefix="theirs")[0]

    response = _bulk(web, tenant, action="trash", ids=[f.pk for f in [*mine, theirs]])

    assert response.status_code == 302
    assert File.objects.filter(deleted_at__isnull=False).count() == 2
    assert File.objects.get(pk=theirs.pk).deleted_at is None
    [message] = _messages(response)
    assert message.startswith("2 files moved to the trash; 1 refused: “theirs-000.jpg”")
    assert ActivityEvent.objects.filter(verb="file.trashed", tenant=tenant).count() == 2


def test_bulk_move_and_tag(web, tenant, editor_member):
    files = make_files(tenant, editor_member.user, 3)
    target = Folder.objects.create(tenant=tenant, name="Archive", path="/Archive/", created_by=editor_member.user)
    File.objects.filter(pk=files[0].pk).update(tags=["old"])

    moved = _bulk(web, tenant, action="move", target=str(target.pk), ids=[f.pk for f in files[:2]])
    assert _messages(moved) == ["2 files moved."]
    tagged = _bulk(web, tenant, action="tag", tags="Summer, trip", ids=[files[0].pk, files[2].pk])
    assert _messages(tagged) == ["2 files tagged."]
    assert set(File.objects.filter(folder=target).values_list("pk", flat=True)) == {files[0].pk, files[1].pk}
    assert File.objects.get(pk=files[0].pk).tags == ["old", "summer", "trip"]
    assert File.objects.get(pk=files[1].pk).tags == []


def test_select_all_in_the_folder_acts_beyond_the_loaded_page(web, tenant, editor_member, monkeypatch):
    monkeypatch.setattr(browse_view, "PAGE_SIZE", 2)
    folder = Folder.objects.create(tenant=tenant, name="F", path="/F/", created_by=editor_member.user)
    make_files(tenant, editor_member.user, 5, folder=folder)
    make_files(tenant, editor_member.user, 1, prefix="outside")

    count = web.get(f"/t/{tenant.slug}/browse/count/", {"folder": str(folder.pk)}).content.decode()
    response = _bulk(web, tenant, action="tag", tags="all", folder=str(folder.pk), all="1")

    assert count == "Select all 5 in this folder"
    assert _messages(response) == ["5 files tagged."]
    assert File.objects.filter(tags__contains=["all"]).count() == 5


def test_bulk_bounds_refuse_with_a_clear_message(web, tenant, editor_member, settings):
    files = make_files(tenant, editor_member.user, 3)
    settings.PORTAL_BULK_MAX_FILES = 2
    response = _bulk(web, tenant, action="trash", ids=[f.pk for f in files])
    assert _messages(response) == ["At most 2 files at once; choose fewer."]
    assert not File.objects.filter(deleted_at__isnull=False).exists()


def test_zip_of_the_chosen_files_holds_their_bytes(tenant, editor_member, settings):
    api = client_for(editor_member.user)
    first = upload(api, tenant, "a.txt", b"first file's bytes").json()
    second = upload(api, tenant, "b.txt", b"second " * 1000).json()
    upload(api, tenant, "c.txt", b"not chosen")
    web = portal(editor_member)

    response = _bulk(web, tenant, action="zip", ids=[first["id"], second["id"]])

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert {n: archive.read(n) for n in archive.namelist()} == {
        "a.txt": b"first file's bytes",
        "b.txt": b"second " * 1000,
    }
    assert ActivityEvent.objects.filter(verb="file.downloaded", tenant=tenant).count() == 2

    settings.PORTAL_ZIP_MAX_BYTES = 100
    refused = _bulk(web, tenant, action="zip", ids=[first["id"], second["id"]])
    assert refused.status_code == 302
    assert "A ZIP holds at most 100 bytes" in _messages(refused)[0]


def test_a_viewer_gets_no_bulk_delete(tenant, editor_member):
    files = make_files(tenant, editor_member.user, 2)
    viewer = portal(MembershipFactory(tenant=tenant, role=Role.VIEWER))

    html = viewer.get(f"/t/{tenant.slug}/").content.decode()
    refused = _bulk(viewer, tenant, action="trash", ids=[f.pk for f in files])

    assert "Trash files" not in html and "Download ZIP" in html and "New folder" not in html
    assert _messages(refused)[0].startswith("0 files moved to the trash; 2 refused")
    assert not File.objects.filter(deleted_at__isnull=False).exists()


def test_foreign_tenants_and_their_files_are_404(web, tenant):
    other = MembershipFactory(role=Role.OWNER)
    foreign = make_files(other.tenant, other.user, 1)[0]
    assert web.get(f"/t/{other.tenant.slug}/").status_code == 404
    assert _bulk(web, other.tenant, action="trash", ids=[foreign.pk]).status_code == 404
    # Their file's id in our tenant's bulk form is simply not there.
    response = _bulk(web, tenant, action="trash", ids=[foreign.pk])
    assert _messages(response) == ["Choose files first."]
    assert File.objects.get(pk=foreign.pk).deleted_at is None
    assert web.get(f"/t/{tenant.slug}/folders/{uuid.uuid4()}/").status_code == 404


# --- The folder shown: new, rename, move, trash; the tree -------------------------------


def test_folder_actions_and_their_errors(web, tenant, editor_member):
    slug = tenant.slug
    web.post(f"/t/{slug}/folders/new/", {"name": "Photos"})
    web.post(f"/t/{slug}/folders/new/", {"name": "Docs"})
    photos, docs = Folder.objects.get(name="Photos"), Folder.objects.get(name="Docs")

    taken = web.post(f"/t/{slug}/folders/{photos.pk}/rename/", {"name": "docs"})
    assert "already exists" in _messages(taken)[0] and Folder.objects.get(pk=photos.pk).name == "Photos"
    web.post(f"/t/{slug}/folders/{photos.pk}/rename/", {"name": "Pictures"})
    web.post(f"/t/{slug}/folders/{photos.pk}/move/", {"parent": str(docs.pk)})
    assert Folder.objects.get(pk=photos.pk).path == "/Docs/Pictures/"

    page = web.get(f"/t/{slug}/folders/{photos.pk}/").content.decode()
    assert 'role="tree"' in page and ">Docs</a>" in page and 'aria-current="page">Pictures<' in page

    trashed = web.post(f"/t/{slug}/folders/{photos.pk}/delete/")
    assert trashed["Location"].endswith(f"/folders/{docs.pk}/")
    assert Folder.objects.get(pk=photos.pk).deleted_at is not None


def test_the_tree_expands_lazily_and_the_picker_lists_folders(web, tenant):
    top = Folder.objects.create(tenant=tenant, name="Top", path="/Top/")
    Folder.objects.create(tenant=tenant, name="Child", path="/Top/Child/", parent=top)

    page = web.get(f"/t/{tenant.slug}/").content.decode()
    children = web.get(f"/t/{tenant.slug}/browse/tree/", {"parent": str(top.pk)}).content.decode()
    picker = web.get(f"/t/{tenant.slug}/browse/folders/").content.decode()

    assert 'aria-expanded="false"' in page and "Child" not in page.split('role="tree"')[1].split("</ul>")[0]
    assert 'role="treeitem"' in children and ">Child</a>" in children
    assert "/Top/Child/" in picker


# --- The admin's file list ---------------------------------------------------------------


def test_admin_file_list_shows_thumbnails_and_status_and_its_actions_use_the_services(admin_client, tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER)
    files = make_files(tenant, owner.user, 2)
    failed = make_files(tenant, owner.user, 1, status=FileStatus.FAILED, renditions=False, prefix="bad")[0]

    listing = admin_client.get("/admin/files/file/").content.decode()
    assert listing.count('alt="" width="64"') == 2 and "failed" in listing

    reprocessed = admin_client.post("/admin/files/file/", {"action": "reprocess", "_selected_action": [str(failed.pk)]})
    trashed = admin_client.post(
        "/admin/files/file/", {"action": "move_to_trash", "_selected_action": [str(f.pk) for f in files]}
    )

    assert File.objects.get(pk=failed.pk).status == FileStatus.PENDING
    assert ActivityEvent.objects.filter(verb="file.reprocessed", tenant=tenant).exists()
    assert File.objects.filter(deleted_at__isnull=False).count() == 2
    assert _messages(reprocessed)[0] == "1 file queued for processing."
    assert _messages(trashed)[0] == "2 files moved to the trash."


def test_the_jpeg_fallback_redirects_to_a_signed_thumbnail(web, tenant, editor_member):
    file = make_files(tenant, editor_member.user, 1)[0]
    html = web.get(f"/t/{tenant.slug}/").content.decode()
    fallback = f"/t/{tenant.slug}/files/{file.pk}/thumbnail/jpeg/"
    assert f'<img src="{fallback}"' in html

    response = web.get(fallback)
    assert response.status_code == 302 and "X-Amz-Signature" in response["Location"]
    assert "thumbnail.jpeg" in response["Location"]
    other = MembershipFactory(role=Role.OWNER)
    foreign = make_files(other.tenant, other.user, 1)[0]
    assert web.get(f"/t/{tenant.slug}/files/{foreign.pk}/thumbnail/jpeg/").status_code == 404
