"""Where an upload's body goes before it is stored, through a real web process: refused
bodies are answered before they are sent, and a full spool is a clear 507 that keeps nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from accounts.models import Role
from files.models import Blob, File
from tests.e2e.web import Api, RawUpload, api_token, web_server
from tests.factories import MembershipFactory
from tests.files.conftest import tenant_objects

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GIB = 1024**3
SPOOL_BYTES = 2 * 1024**2


def text(size: int) -> bytes:
    return os.urandom(size // 2).hex().encode()


def test_refused_uploads_are_answered_before_their_body_is_sent(editor, member, tenant, tmp_path):
    other = MembershipFactory(role=Role.OWNER).tenant
    viewer = member(Role.VIEWER)
    with web_server(tmp_path) as web:
        cases = [
            (editor, f"/api/v1/tenants/{other.slug}/files/", 404),  # not a member
            (viewer, f"/api/v1/tenants/{tenant.slug}/files/", 403),  # may not upload
            (editor, f"/api/v1/tenants/{tenant.slug}/files/", 413),  # more than the tenant's limit
            (None, "/s/no-such-token/upload", 404),  # no such share link
        ]
        for client, path, expected in cases:
            headers = {"Authorization": f"Token {api_token(client)}"} if client else {}
            raw = RawUpload(web, path, length=5 * GIB, headers=headers)
            try:
                status, _body, elapsed = raw.response(timeout=10)  # not a byte of the body sent
            finally:
                raw.close()
            assert (path, status) == (path, expected)
            assert elapsed < 3, (path, elapsed)
        assert list(web.spool.iterdir()) == []
    assert not File.objects.exists()


def _tiny_spool_wrap(tmp_path) -> tuple[list[str], str]:
    """A command prefix that gives the web process a spool (TMPDIR) with room for
    SPOOL_BYTES: a tmpfs of that size in a mount namespace of its own (as root, or in a user
    namespace), else, where neither is allowed, a file size limit (RLIMIT_FSIZE) of that
    size, which fails the spool's writes the same way (EFBIG instead of ENOSPC)."""
    mount = f'mount -t tmpfs -o size={SPOOL_BYTES} tmpfs "$TMPDIR" && exec "$@"'
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    for namespaces in (["--mount"], ["--mount", "--user", "--map-root-user"]):
        wrap = ["unshare", *namespaces, "--propagation", "private", "sh", "-c", mount, "sh"]
        try:
            probe = subprocess.run(
                [*wrap, "true"], env={**os.environ, "TMPDIR": str(probe_dir)}, capture_output=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return wrap, f"a {SPOOL_BYTES // 1024**2} MiB tmpfs ({' '.join(namespaces)})"
    limit = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({SPOOL_BYTES}, {SPOOL_BYTES})); "
        "os.execvp(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", limit], f"a {SPOOL_BYTES // 1024**2} MiB file size limit"


def test_a_full_spool_is_a_507_and_keeps_nothing(editor, tenant, tmp_path):
    wrap, how = _tiny_spool_wrap(tmp_path)
    with web_server(tmp_path, wrap=wrap) as web:
        api = Api(web, editor, tenant)
        full = api.upload("big.txt", text(2 * SPOOL_BYTES))
        assert full.status_code == 507, (how, full.text)
        assert full.json() == {
            "detail": "The server has no room to receive this upload right now; nothing was saved. Try again later.",
            "code": "insufficient_storage",
        }
        assert not File.objects.filter(tenant=tenant).exists() and not Blob.objects.filter(tenant=tenant).exists()
        assert tenant_objects(tenant) == []
        # The refused upload's spool is gone with it: a file that fits is taken.
        fits = api.upload("fits.txt", text(SPOOL_BYTES * 3 // 4))
        assert fits.status_code == 201, (how, fits.text)
        assert api.upload("big.txt", text(2 * SPOOL_BYTES)).status_code == 507
    assert list(File.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["fits.txt"]
