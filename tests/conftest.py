from __future__ import annotations

import pytest
from celery import current_app
from django.core.cache import cache
from rest_framework.test import APIClient

import files.tasks  # noqa: F401 - registers the tasks run_queued runs
from accounts.models import Role
from files.models import Blob, File
from files.services import replication
from mediaportal.celery import app
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.files.conftest import upload as files_upload
from tests.helpers import CORPUS, client_for


def pytest_configure(config):
    # Processing and search tests use the real files of the shared corpus; without it they
    # would fail one by one with file-not-found errors, so say once what is missing.
    if not (CORPUS / "MANIFEST.json").is_file():
        raise pytest.UsageError(
            f"The test corpus is missing: expected {CORPUS}/MANIFEST.json (the shared corpus beside the "
            "checkout); set MEDIAPORTAL_CORPUS to where it is."
        )


@pytest.fixture(autouse=True)
def _clean_cache():
    """Throttle counters and sessions live in Redis, which outlives each test's transaction."""
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Argon2 costs ~0.5 s per check under load, which made timing-sensitive tests flaky and the
    suite slow; tests/accounts/test_auth_api.py proves production hashes with Argon2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def member(db, tenant):
    """Returns a function making a user with `role` in `tenant` and an API client for them."""

    def make(role: str = Role.EDITOR, tenant_=None):
        membership = MembershipFactory(tenant=tenant_ or tenant, role=role)
        return client_for(membership.user)

    return make


@pytest.fixture
def editor(member):
    return member(Role.EDITOR)


@pytest.fixture
def owner(member):
    return member(Role.OWNER)


@pytest.fixture
def outsider(db):
    """A user with their own tenant but no membership in `tenant`."""
    membership = MembershipFactory(role=Role.OWNER)
    return client_for(membership.user)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def disposable_s3(settings, tmp_path_factory):
    """A separate S3 server of our own that a test may stop, with settings pointing at it."""
    from mediaportal.embedded import EmbeddedStack

    stack = EmbeddedStack(var_dir=tmp_path_factory.mktemp("s3"), log=lambda line: None)
    env = stack.start(postgres=False, redis=False, s3=True, replica=False)
    settings.S3_ENDPOINT_URL = settings.S3_PUBLIC_ENDPOINT_URL = env["S3_ENDPOINT_URL"]
    settings.S3_REPLICA_ENDPOINT_URL = env["S3_ENDPOINT_URL"]
    settings.S3_ACCESS_KEY_ID = settings.S3_REPLICA_ACCESS_KEY_ID = env["S3_ACCESS_KEY_ID"]
    settings.S3_SECRET_ACCESS_KEY = settings.S3_REPLICA_SECRET_ACCESS_KEY = env["S3_SECRET_ACCESS_KEY"]
    yield stack
    stack.stop()


# --- Tasks queued by name (files.services.replication and others) --------------------------


@pytest.fixture
def queued(monkeypatch) -> list[tuple[str, list]]:
    """The tasks queued by name, as (name, args), kept here instead of reaching the broker."""
    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=(), **kw: sent.append((name, list(args))))
    monkeypatch.setattr(replication, "_broker_down_until", 0.0)
    monkeypatch.setattr(replication, "_repairs_queued", {})
    return sent


def run_queued(queued: list, *names: str) -> list:
    """Run the queued tasks of `names` as a worker would (and forget them); their results."""
    results = []
    for name, args in [item for item in queued if item[0] in names]:
        queued.remove((name, args))
        results.append(app.tasks[name].apply(args=args).get())
    return results


@pytest.fixture
def uploaded(editor, tenant, django_capture_on_commit_callbacks):
    """Upload (its after-commit work run, as in production) and return the file's JSON."""

    def make(name: str, data: bytes, client=None, tenant_=None, **fields) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = files_upload(client or editor, tenant_ or tenant, name, data, **fields)
        assert response.status_code == 201, response.content
        return response.json()

    return make


def blob_of(file: dict) -> Blob:
    return Blob.objects.get(sha256=file["sha256"], tenant_id=File.objects.get(pk=file["id"]).tenant_id)
