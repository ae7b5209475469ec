"""Similar images through the API: `files/{id}/similar/`, `duplicates/`, `duplicates/resolve/`,
on copies of corpus photos uploaded and processed like any file."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import ActivityEvent, Role
from files.models import File, ImageFingerprint
from files.services.processing_run import file_process
from tests.files import similar_set


@pytest.fixture(scope="module")
def court():
    picture = similar_set.original("photo_exif/court-exif.jpg")
    copies = {variant: data for variant, _kind, data, _ext in similar_set.variants(picture)}
    return {"original": similar_set._save(picture, "JPEG", quality=95), **copies}


@pytest.fixture(scope="module")
def flower():
    return similar_set._save(similar_set.original("photo_exif/flower.webp"), "JPEG", quality=90)


@pytest.fixture
def processed(uploaded, editor, tenant):
    def make(name, data, visibility=None, **kwargs) -> dict:
        file = uploaded(name, data, **kwargs)
        file_process(file_id=file["id"])
        if visibility:
            client = kwargs.get("client") or editor
            url = f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/"
            assert client.patch(url, {"visibility": visibility}, format="json").status_code == 200
        return file

    return make


def similar_url(tenant, file_id) -> str:
    return f"/api/v1/tenants/{tenant.slug}/files/{file_id}/similar/"


def by_name(body) -> dict:
    return {File.objects.get(pk=r["file"]).name: r for r in body["results"]}


def test_similar_lists_each_copy_with_its_kind_and_the_best(editor, tenant, processed, court, flower):
    original = processed("court.jpg", court["original"])
    processed("court-q60.jpg", court["jpeg-q60"])
    png = processed("court.png", court["png"])
    processed("court-half.jpg", court["half"])
    processed("court-crop.jpg", court["crop"])
    processed("court-brighter.jpg", court["brighter"])
    processed("court-copy.jpg", court["original"])  # the same bytes again
    processed("flower.jpg", flower)

    response = editor.get(similar_url(tenant, original["id"]))
    assert response.status_code == 200, response.content
    found = {name: (r["kind"], r["best"]) for name, r in by_name(response.json()).items()}
    assert found == {
        "court-copy.jpg": ("exact", False),
        "court-q60.jpg": ("re-encoded", False),
        "court.png": ("re-encoded", True),
        "court-half.jpg": ("resized", False),
        "court-crop.jpg": ("edited", False),
        "court-brighter.jpg": ("edited", False),
    }
    # Lossless at full size beats the JPEGs, so the PNG is the best copy.
    assert response.json()["best"] == png["id"]
    assert response.json()["results"][0]["distance"] == 0


def test_a_file_with_no_picture_lists_only_its_exact_copies(editor, tenant, processed):
    text = processed("a.txt", b"hello there\n")
    copy = processed("b.txt", b"hello there\n")
    body = editor.get(similar_url(tenant, text["id"])).json()
    assert body == {
        "results": [
            {
                "file": copy["id"],
                "name": "b.txt",
                "size": 12,
                "content_type": "text/plain",
                "distance": 0,
                "kind": "exact",
                "best": False,
            }
        ],
        "best": None,
    }


def test_a_member_never_sees_a_copy_they_may_not_see(editor, member, tenant, processed, court):
    mine = processed("court.jpg", court["original"])
    other = member(Role.EDITOR)
    private = processed("court-private.png", court["png"], client=other, visibility="private")
    assert by_name(editor.get(similar_url(tenant, mine["id"])).json()).keys() == set()
    assert set(by_name(other.get(similar_url(tenant, mine["id"])).json())) == {"court-private.png"}
    # Nor their file's list, nor the duplicates.
    assert editor.get(similar_url(tenant, private["id"])).status_code == 404
    assert editor.get(f"/api/v1/tenants/{tenant.slug}/duplicates/").json()["results"] == []


def test_duplicates_lists_groups_with_their_best_copy(editor, tenant, processed, court, flower):
    processed("court.jpg", court["original"])
    webp = processed("court.webp", court["webp"])
    png = processed("court.png", court["png"])
    processed("court-third.webp", court["third"])
    processed("flower.jpg", flower)
    processed("flower-copy.jpg", flower)

    body = editor.get(f"/api/v1/tenants/{tenant.slug}/duplicates/").json()
    assert body["next"] is None
    groups = sorted(body["results"], key=lambda g: len(g["members"]))
    assert [len(g["members"]) for g in groups] == [2, 4]
    flowers, courts = groups
    assert {m["kind"] for m in flowers["members"]} == {None, "exact"}
    assert courts["best"] == png["id"]
    kinds = {m["name"]: m["kind"] for m in courts["members"]}
    assert kinds == {
        "court.png": None,
        "court.jpg": "re-encoded",
        "court.webp": "re-encoded",
        "court-third.webp": "resized",
    }
    assert webp["id"] in {m["file"] for m in courts["members"]}


def test_duplicates_pages_by_group(editor, tenant, processed, court, flower, monkeypatch):
    from files.api import similar as api  # noqa: PLC0415 - the page size is patched for this test

    monkeypatch.setattr(api, "GROUPS_PER_PAGE", 1)
    for name, data in [("c1.jpg", court["original"]), ("c2.png", court["png"]), ("f1.jpg", flower), ("f2.jpg", flower)]:
        processed(name, data)
    first = editor.get(f"/api/v1/tenants/{tenant.slug}/duplicates/").json()
    assert len(first["results"]) == 1 and first["next"]
    second = editor.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    assert first["results"][0]["best"] != second["results"][0]["best"]


def resolve(client, tenant, **body):
    return client.post(f"/api/v1/tenants/{tenant.slug}/duplicates/resolve/", body, format="json")


def test_resolve_with_versions_keeps_the_best_and_files_the_others_under_it(editor, tenant, processed, court):
    keep = processed("court.png", court["png"])
    jpeg = processed("court.jpg", court["original"])
    half = processed("court-half.jpg", court["half"])
    response = resolve(editor, tenant, keep=keep["id"], others=[jpeg["id"], half["id"]], action="versions")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 4
    kept = File.objects.get(pk=keep["id"])
    history = list(kept.versions.order_by("number").values_list("blob__sha256", flat=True))
    assert history == [keep["sha256"], jpeg["sha256"], half["sha256"], keep["sha256"]]
    assert kept.sha256 == keep["sha256"]
    assert File.objects.filter(pk__in=[jpeg["id"], half["id"]], deleted_at__isnull=False).count() == 2
    assert ActivityEvent.objects.filter(verb="file.duplicates_resolved", tenant=tenant).count() == 1


def test_resolve_to_the_trash(editor, tenant, processed, court):
    keep = processed("court.png", court["png"])
    other = processed("court.webp", court["webp"])
    response = resolve(editor, tenant, keep=keep["id"], others=[other["id"]], action="trash")
    assert response.status_code == 200, response.content
    assert response.json() == {"keep": keep["id"], "version": 1, "trashed": [other["id"]], "action": "trash"}
    assert File.objects.get(pk=other["id"]).deleted_at is not None
    assert File.objects.get(pk=keep["id"]).versions.count() == 1


def test_resolve_refuses_what_the_caller_may_not_do_and_changes_nothing(
    editor, member, tenant, processed, court, flower
):
    keep = processed("court.png", court["png"])
    mine = processed("court.jpg", court["original"])
    other = member(Role.EDITOR)
    theirs = processed("court.webp", court["webp"], client=other)
    hidden = processed("court-half.jpg", court["half"], client=other, visibility="private")
    unrelated = processed("flower.jpg", flower)

    # Visible but not theirs to delete: 403; invisible: 404; not a copy: 400. Nothing moves.
    assert (
        resolve(editor, tenant, keep=keep["id"], others=[mine["id"], theirs["id"]], action="trash").status_code == 403
    )
    assert (
        resolve(editor, tenant, keep=keep["id"], others=[mine["id"], hidden["id"]], action="trash").status_code == 404
    )
    refused = resolve(editor, tenant, keep=keep["id"], others=[mine["id"], unrelated["id"]], action="versions")
    assert (refused.status_code, refused.json()["code"]) == (400, "not_similar")
    bad = resolve(editor, tenant, keep=keep["id"], others=[keep["id"]], action="versions")
    assert bad.status_code == 400
    assert File.objects.filter(tenant=tenant, deleted_at__isnull=False).count() == 0
    assert File.objects.get(pk=keep["id"]).versions.count() == 1


def test_the_backfill_command_fingerprints_older_images(editor, tenant, processed, court, capsys):
    first = processed("court.jpg", court["original"])
    second = processed("court.png", court["png"])
    ImageFingerprint.objects.filter(tenant=tenant).delete()
    assert editor.get(similar_url(tenant, first["id"])).json()["results"] == []

    call_command("fingerprint_images", "--tenant", tenant.slug)
    assert "2 fingerprinted" in capsys.readouterr().out
    results = editor.get(similar_url(tenant, first["id"])).json()["results"]
    assert [(r["file"], r["kind"]) for r in results] == [(second["id"], "re-encoded")]
    call_command("fingerprint_images")
    assert "nothing to do" in capsys.readouterr().out


# --- Portal ---------------------------------------------------------------------------


@pytest.fixture
def portal(client, editor):
    client.force_login(editor.user)
    return client


def test_the_file_page_panel_shows_copies_with_kind_and_the_best(portal, tenant, processed, court):
    original = processed("court.jpg", court["original"])
    processed("court.png", court["png"])
    processed("court-half.jpg", court["half"])
    html = portal.get(f"/t/{tenant.slug}/files/{original['id']}/similar/").content.decode()
    assert "court.png" in html and "court-half.jpg" in html
    assert "re-encoded" in html and "resized" in html and "best copy" in html
    page = portal.get(f"/t/{tenant.slug}/files/{original['id']}/").content.decode()
    assert f"/t/{tenant.slug}/files/{original['id']}/similar/" in page


def test_the_duplicates_page_resolves_a_group(portal, tenant, processed, court):
    keep = processed("court.png", court["png"])
    other = processed("court.jpg", court["original"])
    page = portal.get(f"/t/{tenant.slug}/duplicates/").content.decode()
    assert "court.png" in page and "court.jpg" in page and "suggested" in page
    response = portal.post(
        f"/t/{tenant.slug}/duplicates/resolve/",
        {"keep": keep["id"], "members": [keep["id"], other["id"]], "action": "trash"},
    )
    assert response.status_code == 302
    assert File.objects.get(pk=other["id"]).deleted_at is not None
    assert "No duplicates found" in portal.get(f"/t/{tenant.slug}/duplicates/").content.decode()
