"""Resumable multipart uploads over the real S3: the parts go straight to S3, the API says
which parts S3 holds, complete joins and files them like every other upload."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts.models import Membership, Role, Tenant
from files import storage
from files.models import File, Folder, UploadSession, UploadState
from files.services.direct import upload_sessions_expire
from files.services.multipart import part_size_for
from files.storage import multipart as s3_multipart
from mediaportal.embedded import bucket_cors_set
from tests.files.conftest import InThread, downloaded, sha, tenant_objects, upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

MIB = 1024**2


def text_bytes(size: int, seed: str = "") -> bytes:
    """`size` bytes of plain text (accepted at upload), different for each seed."""
    line = f"{seed} the quick brown fox jumps over the lazy dog {{}}\n"
    out, n = bytearray(), 0
    while len(out) < size:
        out += line.format(n).encode()
        n += 1
    return bytes(out[:size])


@pytest.fixture
def big_limits(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(max_upload_bytes=64 * MIB)
    tenant.refresh_from_db()
    return tenant


def base(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/uploads/"


def start(client, tenant, filename, size, **extra):
    return client.post(base(tenant) + "multipart/", {"filename": filename, "size": size, **extra}, format="json")


def part_urls(client, tenant, upload_id, numbers):
    return client.post(f"{base(tenant)}{upload_id}/parts/", {"parts": numbers}, format="json")


def put_parts(client, tenant, upload_id, data: bytes, numbers, part_size: int) -> None:
    answer = part_urls(client, tenant, upload_id, numbers)
    assert answer.status_code == 200, answer.content
    for part in answer.json()["parts"]:
        start_at = (part["number"] - 1) * part_size
        body = data[start_at : start_at + part["size"]]
        assert len(body) == part["size"]
        assert requests.put(part["url"], data=body, timeout=30).status_code == 200


def complete(client, tenant, upload_id, **body):
    return client.post(f"{base(tenant)}{upload_id}/complete/", body, format="json")


def s3_uploads(tenant) -> list[str]:
    """The multipart uploads S3 has in progress under the tenant's prefix."""
    return [u["UploadId"] for u in s3_multipart.uploads(f"tenants/{tenant.id}/")]


def test_multipart_upload_resumes_from_what_s3_holds_and_completes_once(editor, big_limits, after_commit):
    tenant = big_limits
    data = text_bytes(11 * MIB + 12345)
    created = start(editor, tenant, "field notes.txt", len(data), content_type="text/plain")
    assert created.status_code == 201, created.content
    session = created.json()
    assert session["part_size"] == 5 * MIB and session["part_count"] == 3
    assert session["missing"] == [1, 2, 3] and session["parts"] == [] and session["state"] == "pending"
    assert len(s3_uploads(tenant)) == 1

    # Two parts sent, then the client goes away: S3's own list says what is there.
    put_parts(editor, tenant, session["id"], data, [1, 2], session["part_size"])
    listed = editor.get(f"{base(tenant)}{session['id']}/").json()
    assert listed["parts"] == [{"number": 1, "size": 5 * MIB}, {"number": 2, "size": 5 * MIB}]
    assert listed["missing"] == [3]

    early = complete(editor, tenant, session["id"])
    assert early.status_code == 409 and early.json()["code"] == "parts_missing"
    assert early.json()["missing"] == [3]
    assert not File.objects.filter(tenant=tenant).exists() and tenant_objects(tenant) == []

    # Each URL is signed for its part's length: S3 refuses other bytes.
    url = part_urls(editor, tenant, session["id"], [3]).json()["parts"][0]
    assert url["size"] == len(data) - 10 * MIB
    assert requests.put(url["url"], data=data[10 * MIB :] + b"extra", timeout=30).status_code == 403

    put_parts(editor, tenant, session["id"], data, [3], session["part_size"])
    with after_commit():
        done = complete(editor, tenant, session["id"], tags=["Notes"])
    assert done.status_code == 201, done.content
    file = done.json()
    assert file["name"] == "field notes.txt" and file["size"] == len(data) and file["sha256"] == sha(data)
    assert file["tags"] == ["notes"] and file["status"] == "pending"
    assert downloaded(editor, tenant, file["id"]) == (200, data)
    assert tenant_objects(tenant) == [storage.blob_key(tenant.id, sha(data))]
    assert tenant_objects(tenant, "staging") == [] and s3_uploads(tenant) == []

    again = complete(editor, tenant, session["id"])
    assert again.status_code == 200 and again.json()["id"] == file["id"]
    assert File.objects.filter(tenant=tenant).count() == 1
    assert editor.get(f"{base(tenant)}{session['id']}/").json() | {"expires_at": None} == {
        **listed,
        "state": "completed",
        "file": file["id"],
        "parts": [],
        "missing": [],
        "expires_at": None,
    }
    refused = part_urls(editor, tenant, session["id"], [1])
    assert refused.status_code == 409 and refused.json()["code"] == "already_completed"


def test_known_bytes_are_deduplicated_and_folders_of_a_path_are_made_once(editor, big_limits, after_commit):
    tenant = big_limits
    data = text_bytes(3000, seed="dedup")
    assert upload(editor, tenant, "first.txt", data).status_code == 201
    top = Folder.objects.create(tenant=tenant, name="Trips", path="/Trips/")

    session = start(editor, tenant, "again.txt", len(data), folder=str(top.pk), relative_path="2024/Alps").json()
    assert session["part_count"] == 1
    put_parts(editor, tenant, session["id"], data, [1], session["part_size"])
    with after_commit():
        done = complete(editor, tenant, session["id"])
    assert done.status_code == 201 and done.json()["sha256"] == sha(data)
    assert len(tenant_objects(tenant)) == 1 and File.objects.filter(tenant=tenant).count() == 2
    alps = Folder.objects.get(tenant=tenant, path="/Trips/2024/Alps/")
    assert done.json()["folder"] == str(alps.pk)

    # The small-file path takes the same `relative_path` and finds the folders made above.
    small = upload(editor, tenant, "map.txt", b"a map", folder=str(top.pk), relative_path="2024/Alps")
    assert small.status_code == 201 and small.json()["folder"] == str(alps.pk)
    assert Folder.objects.filter(tenant=tenant).count() == 3


def test_uploads_into_one_new_folder_path_at_once_make_each_folder_once(editor, tenant, transactional_db):
    calls = [
        InThread(
            lambda n=n: upload(
                client_for(editor.user), tenant, f"{n}.txt", f"file {n}".encode(), relative_path="Drop/Inner"
            )
        )
        for n in range(4)
    ]
    for call in calls:
        call.start()
    answers = [call.outcome() for call in calls]
    assert [a.status_code for a in answers] == [201] * 4, [a.content for a in answers]
    assert sorted(Folder.objects.filter(tenant=tenant).values_list("path", flat=True)) == ["/Drop/", "/Drop/Inner/"]
    inner = Folder.objects.get(tenant=tenant, path="/Drop/Inner/")
    assert {a.json()["folder"] for a in answers} == {str(inner.pk)}


def test_refusals_change_nothing(editor, tenant, member, outsider):
    # Too large: 413 before S3 is asked for anything.
    too_big = start(editor, tenant, "huge.bin", tenant.max_upload_bytes + 1)
    assert too_big.status_code == 413 and too_big.json()["code"] == "file_too_large"
    # Over the quota.
    Tenant.objects.filter(pk=tenant.pk).update(quota_bytes=100)
    over = start(editor, tenant, "over.txt", 101)
    assert over.status_code == 413 and over.json()["code"] == "quota_exceeded"
    Tenant.objects.filter(pk=tenant.pk).update(quota_bytes=10 * 1024**3)
    # Viewers may not upload; other tenants' members find nothing.
    viewer = start(member(Role.VIEWER), tenant, "v.txt", 10)
    assert viewer.status_code == 403
    assert start(outsider, tenant, "o.txt", 10).status_code == 404
    # A folder that is not there, a path that climbs out.
    assert start(editor, tenant, "f.txt", 10, folder=str(uuid.uuid4())).status_code == 404
    climbing = start(editor, tenant, "p.txt", 10, relative_path="a/../../b")
    assert climbing.status_code == 400 and climbing.json()["code"] == "invalid_path"
    assert not UploadSession.objects.exists() and s3_uploads(tenant) == []
    assert not Folder.objects.filter(tenant=tenant).exists()

    # Someone else's upload, or one in another tenant, is not found.
    session = start(editor, tenant, "mine.txt", 10).json()
    other = member()
    assert other.get(f"{base(tenant)}{session['id']}/").status_code == 404
    assert part_urls(other, tenant, session["id"], [1]).status_code == 404
    assert complete(other, tenant, session["id"]).status_code == 404
    assert other.delete(f"{base(tenant)}{session['id']}/").status_code == 404
    assert outsider.get(f"{base(tenant)}{session['id']}/").status_code == 404
    bad = part_urls(editor, tenant, session["id"], [2])
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_part"
    assert len(s3_uploads(tenant)) == 1


def test_a_viewer_can_not_complete_and_an_aborted_upload_is_gone(editor, tenant):
    data = b"given up halfway"
    session = start(editor, tenant, "gone.txt", len(data)).json()
    put_parts(editor, tenant, session["id"], data, [1], session["part_size"])
    Membership.objects.filter(user=editor.user, tenant=tenant).update(role=Role.VIEWER)
    assert complete(editor, tenant, session["id"]).status_code == 403
    assert tenant_objects(tenant) == [] and not File.objects.filter(tenant=tenant).exists()
    Membership.objects.filter(user=editor.user, tenant=tenant).update(role=Role.EDITOR)

    assert editor.delete(f"{base(tenant)}{session['id']}/").status_code == 204
    assert s3_uploads(tenant) == [] and tenant_objects(tenant, "staging") == []
    assert UploadSession.objects.get(pk=session["id"]).state == UploadState.EXPIRED
    late = complete(editor, tenant, session["id"])
    assert late.status_code == 409 and late.json()["code"] == "upload_expired"
    assert editor.delete(f"{base(tenant)}{session['id']}/").status_code == 204
    assert not File.objects.filter(tenant=tenant).exists()


def test_the_sweep_aborts_stale_uploads_in_s3_and_forgets_old_rows(editor, tenant):
    data = b"never completed"
    session = start(editor, tenant, "stale.txt", len(data)).json()
    put_parts(editor, tenant, session["id"], data, [1], session["part_size"])
    assert upload_sessions_expire() == 0 and len(s3_uploads(tenant)) == 1

    UploadSession.objects.filter(pk=session["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert upload_sessions_expire() == 1
    assert s3_uploads(tenant) == []
    assert UploadSession.objects.get(pk=session["id"]).state == UploadState.EXPIRED

    # An upload S3 holds that no session knows of (its row never written) goes once it is
    # older than any session could be; the expired row goes a week after its expiry.
    stray = s3_multipart.create(key=storage.staging_key(tenant.id, uuid.uuid4()), content_type="")
    assert upload_sessions_expire() == 0 and s3_uploads(tenant) == [stray]
    upload_sessions_expire(now=timezone.now() + timedelta(days=8))
    assert s3_uploads(tenant) == [] and not UploadSession.objects.exists()


def test_part_size_keeps_to_s3_limits():
    assert part_size_for(1) == 5 * MIB
    assert part_size_for(30 * 1000**2) == 5 * MIB
    big = 5 * 1024**4  # 5 TiB, S3's largest object
    assert part_size_for(big) % MIB == 0 and -(-big // part_size_for(big)) <= 10_000


def test_a_narrowed_bucket_cors_lets_only_the_portal_put():
    """What the embedded stack's `put_bucket_cors` means to a browser's preflight (the browser
    test does the real cross-origin PUT)."""
    client, bucket = storage.s3_client(), storage.bucket_storage().bucket_name
    url = f"{storage.bucket_storage().endpoint_url}/{bucket}/tenants/x/staging/y?partNumber=1&uploadId=z"

    def preflight(origin):
        return requests.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "PUT"}, timeout=10)

    try:
        bucket_cors_set(client, bucket, ["http://portal.example:8000"])
        allowed = preflight("http://portal.example:8000")
        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == "http://portal.example:8000"
        assert "PUT" in allowed.headers["Access-Control-Allow-Methods"]
        assert preflight("http://elsewhere.example").status_code == 403
    finally:
        bucket_cors_set(client, bucket, ["*"])


def test_openapi_documents_the_multipart_endpoints():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    prefix = "/api/v1/tenants/{tenant_slug}/uploads/"
    paths = schema["paths"]
    assert "post" in paths[prefix + "multipart/"]
    assert {"get", "delete"} <= set(paths[prefix + "{upload_id}/"])
    assert "post" in paths[prefix + "{upload_id}/parts/"]
    create = paths[prefix + "multipart/"]["post"]
    assert {"201", "403", "404", "413"} <= set(create["responses"])
    complete_op = paths[prefix + "{upload_id}/complete/"]["post"]
    assert "409" in complete_op["responses"] and "parts_missing" in complete_op["description"]
    session = schema["components"]["schemas"]["MultipartSessionOutput"]["properties"]
    assert {"part_size", "part_count", "parts", "missing"} <= set(session)
    upload_input = schema["components"]["schemas"]["MultipartCreateInputRequest"]["properties"]
    assert {"filename", "size", "folder", "relative_path"} <= set(upload_input)


def test_a_complete_whose_commit_was_lost_finds_the_parts_joined(editor, tenant, after_commit):
    data = b"joined by S3, then the server failed before it noted so"
    session = start(editor, tenant, "joined.txt", len(data)).json()
    put_parts(editor, tenant, session["id"], data, [1], session["part_size"])
    row = UploadSession.objects.get(pk=session["id"])
    held = s3_multipart.parts_held(key=row.staging_key, upload_id=row.multipart_id)
    s3_multipart.complete(key=row.staging_key, upload_id=row.multipart_id, etags={1: held[1]["etag"]})
    with after_commit():
        done = complete(editor, tenant, session["id"])
    assert done.status_code == 201 and done.json()["sha256"] == sha(data)

    # One S3 aborted (and no object): the session is over.
    other = start(editor, tenant, "aborted.txt", len(data)).json()
    row = UploadSession.objects.get(pk=other["id"])
    s3_multipart.abort(key=row.staging_key, upload_id=row.multipart_id)
    gone = complete(editor, tenant, other["id"])
    assert gone.status_code == 409 and gone.json()["code"] == "upload_expired"
