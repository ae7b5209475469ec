from __future__ import annotations

import io
import threading
import zipfile
from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts.models import ActivityEvent, Role
from sharing.models import ShareLink
from sharing.selectors import token_hash
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db


def shares(tenant, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/shares/{suffix}"


@pytest.fixture
def shared_file(editor, tenant):
    file = upload(editor, tenant, "report.txt", b"quarterly numbers").json()
    created = editor.post(shares(tenant), {"file": file["id"]}, format="json")
    assert created.status_code == 201, created.content
    return file, created.json()


def _burst(n: int, request) -> list[int]:
    """Run `request(i)` in n threads released together by a barrier; their status codes."""
    from django.db import connection

    barrier = threading.Barrier(n)
    codes: list[int] = []

    def run(i):
        try:
            barrier.wait()
            codes.append(request(i))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def zip_names(response) -> list[str]:
    assert response.status_code == 200 and response.streaming
    return sorted(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist())


def link_token(client, tenant, **target) -> str:
    """Create a link to `file=` or `folder=` (an id) and return its token."""
    return client.post(shares(tenant), target, format="json").json()["token"]


def private(client, tenant, name, data=b"private words", **fields):
    body = upload(client, tenant, name, data, **fields).json()
    response = client.patch(
        f"/api/v1/tenants/{tenant.slug}/files/{body['id']}/", {"visibility": "private"}, format="json"
    )
    assert response.status_code == 200
    return body


def test_create_returns_token_once_and_stores_only_its_hash(editor, tenant, shared_file):
    _file, body = shared_file
    token = body["token"]
    assert len(token) >= 22 and body["url"].endswith(f"/s/{token}")
    assert body["state"] == "active" and body["has_password"] is False and body["download_count"] == 0
    link = ShareLink.objects.get(pk=body["id"])
    assert link.token_hash == token_hash(token) and token not in link.token_hash
    expected = timezone.now() + timedelta(days=7)
    assert abs((link.expires_at - expected).total_seconds()) < 60
    listed = editor.get(shares(tenant)).json()["results"][0]
    assert "token" not in listed and listed["url"] is None


def test_public_page_and_download(shared_file):
    file, body = shared_file
    anonymous = Client()
    page = anonymous.get(f"/s/{body['token']}")
    assert page.status_code == 200 and "report.txt" in page.content.decode()
    download = anonymous.get(f"/s/{body['token']}/download", REMOTE_ADDR="198.51.100.7")
    assert download.status_code == 302
    assert requests.get(download["Location"], timeout=10).content == b"quarterly numbers"
    assert ShareLink.objects.get(pk=body["id"]).download_count == 1
    assert ActivityEvent.objects.filter(verb="share.downloaded", ip="198.51.100.7").exists()


def test_every_state(editor, tenant, shared_file):
    file, body = shared_file
    token, url = body["token"], shares(tenant, f"{body['id']}/")
    anonymous = Client()
    ShareLink.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert editor.get(url).json()["state"] == "expired"
    assert anonymous.get(f"/s/{token}").status_code == 410

    ShareLink.objects.filter(pk=body["id"]).update(expires_at=timezone.now() + timedelta(days=1), max_downloads=1)
    assert anonymous.get(f"/s/{token}/download").status_code == 302
    assert editor.get(url).json()["state"] == "exhausted"
    assert anonymous.get(f"/s/{token}/download").status_code == 410

    assert editor.patch(url, {"max_downloads": 5}, format="json").json()["state"] == "active"
    assert editor.delete(url).status_code == 204
    assert editor.get(url).json()["state"] == "revoked"
    assert anonymous.get(f"/s/{token}").status_code == 410
    assert anonymous.get("/s/not-a-real-token").status_code == 404


def test_expiry_limits(editor, tenant):
    file = upload(editor, tenant, "a.txt", b"a").json()
    too_far = (timezone.now() + timedelta(days=tenant.share_max_days + 1)).isoformat()
    response = editor.post(shares(tenant), {"file": file["id"], "expires_at": too_far}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "expiry_too_far"
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert editor.post(shares(tenant), {"file": file["id"], "expires_at": past}, format="json").status_code == 400
    assert not ShareLink.objects.exists()


def test_password_unlocks_for_the_session_and_wrong_guesses_are_throttled(editor, tenant, settings):
    file = upload(editor, tenant, "secret.txt", b"secret").json()
    token = editor.post(shares(tenant), {"file": file["id"], "password": "open sesame"}, format="json").json()["token"]
    visitor = Client()
    assert "This link is protected" in visitor.get(f"/s/{token}").content.decode()
    assert visitor.get(f"/s/{token}/download").status_code == 302  # back to the form, not to S3
    assert "X-Amz" not in visitor.get(f"/s/{token}/download")["Location"]
    wrong = visitor.post(f"/s/{token}", {"password": "nope"})
    assert wrong.status_code == 401 and "Wrong password." in wrong.content.decode()
    assert visitor.post(f"/s/{token}", {"password": "open sesame"}).status_code == 302
    assert "secret.txt" in visitor.get(f"/s/{token}").content.decode()
    assert "X-Amz-Signature" in visitor.get(f"/s/{token}/download")["Location"]

    settings.SHARE_PASSWORD_ATTEMPTS = 3
    cache.clear()  # the visitor's wrong guess above came from the same address
    attacker = Client()
    codes = [attacker.post(f"/s/{token}", {"password": f"guess{i}"}).status_code for i in range(5)]
    assert codes[:3] == [401, 401, 401] and codes[-1] == 429


def test_token_guessing_is_throttled(settings):
    settings.SHARE_TOKEN_GUESSES_PER_IP = 3
    guesser = Client()
    codes = [guesser.get(f"/s/guess-{i}").status_code for i in range(5)]
    assert codes[:3] == [404, 404, 404] and codes[-1] == 429


def test_max_downloads_is_exact_under_concurrency(editor, tenant, transactional_db):
    file = upload(editor, tenant, "hot.txt", b"hot").json()
    body = editor.post(shares(tenant), {"file": file["id"], "max_downloads": 3}, format="json").json()
    results = _burst(10, lambda i: Client().get(f"/s/{body['token']}/download").status_code)
    assert sorted(results) == [302] * 3 + [410] * 7
    assert ShareLink.objects.get(pk=body["id"]).download_count == 3


def test_folder_link_lists_downloads_zips_and_cannot_reach_outside(editor, tenant):
    base = f"/api/v1/tenants/{tenant.slug}/"
    folder = editor.post(base + "folders/", {"name": "Shared"}, format="json").json()
    sub = editor.post(base + "folders/", {"name": "Sub", "parent": folder["id"]}, format="json").json()
    inside = upload(editor, tenant, "in.txt", b"inside", folder=folder["id"]).json()
    upload(editor, tenant, "deep.txt", b"deeper", folder=sub["id"])
    outside = upload(editor, tenant, "out.txt", b"outside").json()
    token = link_token(editor, tenant, folder=folder["id"])
    anonymous = Client()
    page = anonymous.get(f"/s/{token}").content.decode()
    assert "in.txt" in page and "deep.txt" in page and "out.txt" not in page
    assert anonymous.get(f"/s/{token}/files/{inside['id']}/download").status_code == 302
    assert anonymous.get(f"/s/{token}/files/{outside['id']}/download").status_code == 404
    assert anonymous.get(f"/s/{token}/download").status_code == 404  # a folder link has no single file
    response = anonymous.get(f"/s/{token}/zip")
    assert response.status_code == 200 and response.streaming
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["Sub/deep.txt", "in.txt"]
    assert archive.read("Sub/deep.txt") == b"deeper"


def test_trashing_the_target_stops_the_link(editor, tenant, shared_file):
    file, body = shared_file
    editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/")
    assert Client().get(f"/s/{body['token']}").status_code == 404


def test_viewers_cannot_share_and_links_of_others_are_hidden(member, editor, tenant, shared_file):
    file, body = shared_file
    viewer = member(Role.VIEWER)
    assert viewer.post(shares(tenant), {"file": file["id"]}, format="json").status_code == 403
    assert viewer.get(shares(tenant, f"{body['id']}/")).status_code == 404
    assert member(Role.ADMIN).get(shares(tenant, f"{body['id']}/")).status_code == 200


def test_zip_of_a_100_file_folder_is_streamed_with_flat_memory(editor, tenant):
    import os
    import tracemalloc

    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Many"}, format="json").json()
    for i in range(100):
        # Text so the type check accepts it; random so nothing deduplicates.
        upload(editor, tenant, f"part-{i:03}.txt", os.urandom(30_000).hex().encode(), folder=folder["id"])
    token = link_token(editor, tenant, folder=folder["id"])
    response = Client().get(f"/s/{token}/zip")
    assert response.status_code == 200
    tracemalloc.start()
    total, largest_piece = 0, 0
    entries = io.BytesIO()
    for piece in response.streaming_content:
        total += len(piece)
        largest_piece = max(largest_piece, len(piece))
        entries.write(piece)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    archive = zipfile.ZipFile(entries)
    assert len(archive.namelist()) == 100 and total > 100 * 60_000
    # The whole archive is ~6 MB; it never sat in memory at once, only a piece at a time
    # (peak counts the test's own copy of what it received, so compare to that).
    assert largest_piece <= 2 * 1024 * 1024
    assert peak - total < 3 * 1024 * 1024


def test_upload_only_links_take_files_and_show_nothing(editor, tenant):
    base = f"/api/v1/tenants/{tenant.slug}/"
    folder = editor.post(base + "folders/", {"name": "Inbox"}, format="json").json()
    existing = upload(editor, tenant, "private-plan.txt", b"plans", folder=folder["id"]).json()
    created = editor.post(shares(tenant), {"folder": folder["id"], "allow_upload": True}, format="json").json()
    token = created["token"]
    assert created["allow_upload"] is True
    visitor = Client(enforce_csrf_checks=True)
    page = visitor.get(f"/s/{token}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Send files" in html and "private-plan.txt" not in html
    assert visitor.get(f"/s/{token}/zip").status_code == 404
    assert visitor.get(f"/s/{token}/files/{existing['id']}/download").status_code == 404

    csrf = visitor.cookies["csrftoken"].value
    sent = visitor.post(
        f"/s/{token}/upload",
        {"file": SimpleUploadedFile("report.txt", b"a submitted report"), "csrfmiddlewaretoken": csrf},
        REMOTE_ADDR="192.0.2.80",
    )
    assert sent.status_code == 302 and "uploaded=1" in sent["Location"]
    names = [f["name"] for f in editor.get(base + "files/", {"folder": folder["id"]}).json()["results"]]
    assert sorted(names) == ["private-plan.txt", "report.txt"]
    assert ActivityEvent.objects.filter(verb="share.uploaded", ip="192.0.2.80").exists()
    refused = visitor.post(f"/s/{token}/upload", {"file": io.BytesIO(b"\x7fELF\x02\x01"), "csrfmiddlewaretoken": csrf})
    assert refused.status_code == 415 and "Executable" in refused.content.decode()


def test_ordinary_links_take_no_uploads(editor, tenant, shared_file):
    _file, body = shared_file
    response = Client().post(f"/s/{body['token']}/upload", {"file": io.BytesIO(b"x")})
    assert response.status_code in (403, 404)
    assert editor.post(shares(tenant), {"file": _file["id"], "allow_upload": True}, format="json").status_code == 400


def test_a_folder_link_shows_and_serves_only_what_its_creator_may_share(owner, member, editor, tenant):
    """What a file link to each file could publish: the creator's own files and those they
    may share, not colleagues' files they can merely see (nor, surely, private ones)."""
    base = f"/api/v1/tenants/{tenant.slug}/"
    inbox = editor.post(base + "folders/", {"name": "Inbox"}, format="json").json()
    salaries = private(owner, tenant, "salaries.txt", b"salaries of everyone", folder=inbox["id"])
    memo = upload(owner, tenant, "memo.txt", b"for the whole team", folder=inbox["id"]).json()
    colleague = upload(member(Role.EDITOR), tenant, "draft.txt", b"a colleague's", folder=inbox["id"]).json()
    upload(editor, tenant, "mine.txt", b"the editor's", folder=inbox["id"])
    token = link_token(editor, tenant, folder=inbox["id"])
    anonymous = Client()

    page = anonymous.get(f"/s/{token}").content.decode()
    assert "mine.txt" in page
    assert "memo.txt" not in page and "draft.txt" not in page and "salaries.txt" not in page
    for hidden in (salaries, memo, colleague):
        assert anonymous.get(f"/s/{token}/files/{hidden['id']}/download").status_code == 404
        assert editor.post(shares(tenant), {"file": hidden["id"]}, format="json").status_code in (403, 404)
    assert zip_names(anonymous.get(f"/s/{token}/zip")) == ["mine.txt"]

    # Decided when the link is used: seeing the file is not enough, sharing it is.
    def grant(file, permissions):
        body = {"user": str(editor.user.id), "permissions": permissions}
        assert owner.post(base + f"files/{file['id']}/permissions/", body, format="json").status_code == 201

    grant(salaries, ["view"])
    assert "salaries.txt" not in anonymous.get(f"/s/{token}").content.decode()
    grant(salaries, ["view", "share"])
    assert "salaries.txt" in anonymous.get(f"/s/{token}").content.decode()
    assert anonymous.get(f"/s/{token}/files/{salaries['id']}/download").status_code == 302

    # A share grant on the folder from an admin covers everything under it.
    body = {"user": str(editor.user.id), "permissions": ["view", "share"]}
    assert owner.post(base + f"folders/{inbox['id']}/permissions/", body, format="json").status_code == 201
    assert zip_names(anonymous.get(f"/s/{token}/zip")) == ["draft.txt", "memo.txt", "mine.txt", "salaries.txt"]
    # And a link made by an owner shows everything.
    owner_token = link_token(owner, tenant, folder=inbox["id"])
    assert zip_names(anonymous.get(f"/s/{owner_token}/zip")) == ["draft.txt", "memo.txt", "mine.txt", "salaries.txt"]


def test_links_stop_when_their_creator_leaves_or_loses_the_share_right(owner, member, tenant):
    base = f"/api/v1/tenants/{tenant.slug}/"
    leaver = member(Role.EDITOR)
    own = upload(leaver, tenant, "own.txt", b"own").json()
    folder = leaver.post(base + "folders/", {"name": "Leaver's"}, format="json").json()
    file_token = leaver.post(shares(tenant), {"file": own["id"]}, format="json").json()["token"]
    folder_token = link_token(leaver, tenant, folder=folder["id"])
    anonymous = Client()
    assert anonymous.get(f"/s/{file_token}/download").status_code == 302
    assert owner.delete(base + f"members/{leaver.user.id}/").status_code == 204
    for url in (f"/s/{file_token}", f"/s/{file_token}/download", f"/s/{folder_token}", f"/s/{folder_token}/zip"):
        assert anonymous.get(url).status_code == 404, url

    sharer = member(Role.EDITOR)
    plan = private(owner, tenant, "plan.txt")
    owner.post(
        base + f"files/{plan['id']}/permissions/",
        {"user": str(sharer.user.id), "permissions": ["view", "share"]},
        format="json",
    )
    token = sharer.post(shares(tenant), {"file": plan["id"]}, format="json").json()["token"]
    assert anonymous.get(f"/s/{token}/download").status_code == 302
    owner.post(
        base + f"files/{plan['id']}/permissions/", {"user": str(sharer.user.id), "permissions": ["view"]}, format="json"
    )
    assert anonymous.get(f"/s/{token}").status_code == 404
    assert anonymous.get(f"/s/{token}/download").status_code == 404

    admin = member(Role.ADMIN)
    token = admin.post(shares(tenant), {"file": plan["id"]}, format="json").json()["token"]
    assert anonymous.get(f"/s/{token}").status_code == 200
    owner.patch(base + f"members/{admin.user.id}/", {"role": "viewer"}, format="json")
    assert anonymous.get(f"/s/{token}").status_code == 404


def test_download_and_zip_stop_at_once_when_a_link_is_revoked(editor, tenant, shared_file):
    _file, body = shared_file
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Box"}, format="json").json()
    inside = upload(editor, tenant, "in.txt", b"inside", folder=folder["id"]).json()
    folder_link = editor.post(shares(tenant), {"folder": folder["id"]}, format="json").json()
    visitor = Client()
    assert visitor.get(f"/s/{body['token']}/download").status_code == 302
    assert visitor.get(f"/s/{folder_link['token']}/zip").status_code == 200
    for link in (body, folder_link):
        assert editor.delete(shares(tenant, f"{link['id']}/")).status_code == 204
    assert visitor.get(f"/s/{body['token']}/download").status_code == 410
    assert visitor.get(f"/s/{folder_link['token']}/zip").status_code == 410
    assert visitor.get(f"/s/{folder_link['token']}/files/{inside['id']}/download").status_code == 410
    assert [link.download_count for link in ShareLink.objects.filter(pk__in=[body["id"], folder_link["id"]])] == [1, 1]


def test_trashing_a_folder_links_target_stops_the_link(editor, tenant):
    base = f"/api/v1/tenants/{tenant.slug}/"
    folder = editor.post(base + "folders/", {"name": "Going"}, format="json").json()
    sub = editor.post(base + "folders/", {"name": "Deeper", "parent": folder["id"]}, format="json").json()
    inside = upload(editor, tenant, "in.txt", b"inside", folder=sub["id"]).json()
    token = link_token(editor, tenant, folder=folder["id"])
    sub_token = link_token(editor, tenant, folder=sub["id"])
    assert editor.delete(base + f"folders/{folder['id']}/").status_code == 204
    visitor = Client()
    for url in (f"/s/{token}", f"/s/{token}/zip", f"/s/{token}/files/{inside['id']}/download", f"/s/{sub_token}"):
        assert visitor.get(url).status_code == 404, url


def test_password_attempts_are_counted_before_checking_so_a_burst_cannot_pass_the_limit(
    editor, tenant, settings, transactional_db
):
    settings.SHARE_PASSWORD_ATTEMPTS = 3
    file = upload(editor, tenant, "s.txt", b"s").json()
    token = editor.post(shares(tenant), {"file": file["id"], "password": "open sesame"}, format="json").json()["token"]
    codes = _burst(12, lambda i: Client().post(f"/s/{token}", {"password": f"guess{i}"}).status_code)
    assert sorted(codes) == [401] * 3 + [429] * 9
    # Locked for this address even with the right password; another address still gets in.
    assert Client().post(f"/s/{token}", {"password": "open sesame"}).status_code == 429
    assert Client(REMOTE_ADDR="203.0.113.9").post(f"/s/{token}", {"password": "open sesame"}).status_code == 302


def test_a_link_locks_after_too_many_wrong_passwords_from_any_addresses(editor, tenant, settings, transactional_db):
    settings.SHARE_PASSWORD_ATTEMPTS = 3
    settings.SHARE_PASSWORD_ATTEMPTS_PER_LINK = 5
    file = upload(editor, tenant, "s.txt", b"s").json()
    token = editor.post(shares(tenant), {"file": file["id"], "password": "open sesame"}, format="json").json()["token"]

    def guess(i):
        return Client(REMOTE_ADDR=f"198.51.100.{i}").post(f"/s/{token}", {"password": "guess"}).status_code

    assert sorted(_burst(12, guess)) == [401] * 5 + [429] * 7
    assert Client(REMOTE_ADDR="203.0.113.9").post(f"/s/{token}", {"password": "open sesame"}).status_code == 429
    # Right passwords are not failures: they leave the counts as they were.
    cache.clear()
    for _ in range(8):
        assert Client(REMOTE_ADDR="203.0.113.9").post(f"/s/{token}", {"password": "open sesame"}).status_code == 302


def test_token_guesses_are_counted_so_a_burst_cannot_pass_the_limit(settings, transactional_db):
    settings.SHARE_TOKEN_GUESSES_PER_IP = 3
    codes = _burst(12, lambda i: Client().get(f"/s/guess-{i}").status_code)
    assert sorted(codes) == [404] * 3 + [429] * 9


def test_every_share_access_is_one_activity_event_with_its_address(owner, editor, tenant, settings):
    settings.SHARE_PASSWORD_ATTEMPTS = 2
    file = upload(editor, tenant, "s.txt", b"s").json()
    body = editor.post(shares(tenant), {"file": file["id"], "password": "open sesame"}, format="json").json()
    token = body["token"]
    assert ShareLink.objects.get(pk=body["id"]).last_accessed_at is None
    visitor = Client(REMOTE_ADDR="192.0.2.10")

    def events_after(request):
        start = ActivityEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        response = request()
        return response, list(ActivityEvent.objects.filter(id__gt=start).values_list("verb", "ip", "tenant_id"))

    response, events = events_after(lambda: visitor.get(f"/s/{token}"))
    assert response.status_code == 200 and events == [("share.viewed", "192.0.2.10", tenant.id)]
    assert ShareLink.objects.get(pk=body["id"]).last_accessed_at is not None
    response, events = events_after(lambda: visitor.post(f"/s/{token}", {"password": "nope"}))
    assert response.status_code == 401 and events == [("share.password_rejected", "192.0.2.10", tenant.id)]
    response, events = events_after(lambda: visitor.post(f"/s/{token}", {"password": "open sesame"}))
    assert response.status_code == 302 and events == [("share.password_accepted", "192.0.2.10", tenant.id)]
    response, events = events_after(lambda: visitor.get(f"/s/{token}"))
    assert response.status_code == 200 and events == [("share.viewed", "192.0.2.10", tenant.id)]
    response, events = events_after(lambda: visitor.get(f"/s/{token}/download"))
    # (the file's own access log records the download as well)
    assert response.status_code == 302 and ("share.downloaded", "192.0.2.10", tenant.id) in events
    visitor.post(f"/s/{token}", {"password": "nope"})
    visitor.post(f"/s/{token}", {"password": "nope"})
    response, events = events_after(lambda: visitor.post(f"/s/{token}", {"password": "nope"}))
    assert response.status_code == 429 and events == [("share.throttled", "192.0.2.10", tenant.id)]
    # Tenant admins see them in the activity log.
    listed = owner.get(f"/api/v1/tenants/{tenant.slug}/analytics/activity/", {"verb": "share."}).json()["results"]
    seen = [(e["verb"], e["ip"]) for e in listed if e["verb"] != "share.created"]
    assert seen[0] == ("share.throttled", "192.0.2.10") and ("share.viewed", "192.0.2.10") in seen


def test_a_new_password_locks_out_sessions_that_gave_the_old_one(editor, tenant):
    file = upload(editor, tenant, "secret.txt", b"secret").json()
    link = editor.post(shares(tenant), {"file": file["id"], "password": "open sesame"}, format="json").json()
    visitor = Client()
    assert visitor.post(f"/s/{link['token']}", {"password": "open sesame"}).status_code == 302
    assert "X-Amz-Signature" in visitor.get(f"/s/{link['token']}/download")["Location"]

    assert editor.patch(shares(tenant, f"{link['id']}/"), {"password": "new words"}, format="json").status_code == 200

    assert "This link is protected" in visitor.get(f"/s/{link['token']}").content.decode()
    assert "X-Amz" not in visitor.get(f"/s/{link['token']}/download")["Location"]


def test_a_limited_link_previews_at_thumbnail_size_only(editor, tenant):
    from files.services.processing_run import file_process
    from tests.helpers import CORPUS

    photo = upload(editor, tenant, "court.jpg", (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes()).json()
    assert file_process(file_id=photo["id"]) == "completed"
    open_link = editor.post(shares(tenant), {"file": photo["id"]}, format="json").json()
    limited = editor.post(shares(tenant), {"file": photo["id"], "max_downloads": 1}, format="json").json()

    unlimited_page = Client().get(f"/s/{open_link['token']}").content.decode()
    limited_page = Client().get(f"/s/{limited['token']}").content.decode()

    assert "large.webp" in unlimited_page
    assert "large.webp" not in limited_page and "medium.webp" not in limited_page
    assert "thumbnail.webp" in limited_page


def test_a_download_limit_beyond_what_the_link_can_count_is_400(editor, tenant, shared_file):
    # 2**31 overflowed the column: a 500 (found by fuzzing).
    file, link = shared_file
    for response in (
        editor.post(shares(tenant), {"file": file["id"], "max_downloads": 2**31}, format="json"),
        editor.patch(shares(tenant, f"{link['id']}/"), {"max_downloads": 2**31}, format="json"),
    ):
        assert response.status_code == 400
        assert response.json()["errors"] == {
            "max_downloads": ["Ensure this value is less than or equal to 2147483647."]
        }
    assert ShareLink.objects.get(pk=link["id"]).max_downloads is None
