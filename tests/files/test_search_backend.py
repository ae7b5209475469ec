"""The search backend is the one `settings.SEARCH_BACKEND` names, and every caller uses it."""

from __future__ import annotations

import ast
import io
import re
from collections import defaultdict

import pytest
from django.core.management import call_command
from django.test import Client

from files import tasks
from files.models import File
from files.search import SearchBackend, SearchHit, SearchPage, get_search_backend
from files.search.postgres import PostgresSearchBackend
from files.sql import ROOT as SQL_ROOT
from files.sql import load_sql
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

TEST_BACKEND = "tests.files.test_search_backend.RecordingBackend"
MIGRATIONS = SQL_ROOT.parent / "migrations"
SQL_NAME = re.compile(r"^[a-z_]+/[a-z_]+\.v\d+$")


class RecordingBackend(SearchBackend):
    """Answers every search with the tenant's files by name, and records what it was asked."""

    def __init__(self, *, suggestion: str) -> None:
        super().__init__()
        self.suggestion, self.calls = suggestion, []

    def search(self, *, membership, query="", filters=None, offset=0, limit=20, facets=True) -> SearchPage:
        self.calls.append(("search", query))
        files = File.objects.filter(tenant_id=membership.tenant_id).order_by("name")[offset : offset + limit]
        return SearchPage(
            hits=[SearchHit(file=f, rank=0.5, highlight="<mark>stub</mark>") for f in files],
            facets={},
            has_more=False,
            suggestion=self.suggestion,
        )

    def suggest(self, *, membership, query, filters=None) -> str | None:
        return self.suggestion

    def reindex(self, *, tenant_id=None, batch_size=2000, progress=None) -> int:
        self.calls.append(("reindex", str(tenant_id)))
        return 0


@pytest.fixture
def recording(settings) -> RecordingBackend:
    settings.SEARCH_BACKEND = {"BACKEND": TEST_BACKEND, "OPTIONS": {"suggestion": "from the test backend"}}
    return get_search_backend()


def test_the_default_backend_is_postgres_with_its_options():
    backend = get_search_backend()
    assert isinstance(backend, PostgresSearchBackend) and backend.work_mem == "64MB"
    assert get_search_backend() is backend  # built once


def test_the_configured_backend_is_built_with_its_options(recording):
    assert isinstance(recording, RecordingBackend) and recording.suggestion == "from the test backend"
    assert get_search_backend() is recording


def test_the_api_and_the_portal_search_through_the_configured_backend(recording, editor, tenant):
    file = File.objects.create(tenant=tenant, owner=editor.user, name="anything.txt", content_type="text/plain")
    body = editor.get(f"/api/v1/tenants/{tenant.slug}/search/", {"q": "zebra"}).json()
    assert [h["file"]["id"] for h in body["results"]] == [str(file.pk)]
    assert body["results"][0]["highlight"] == "<mark>stub</mark>"
    assert body["suggestion"] == "from the test backend"

    membership = MembershipFactory(tenant=tenant)
    browser = Client()
    browser.force_login(membership.user)
    assert "anything.txt" in browser.get(f"/t/{tenant.slug}/search/", {"q": "giraffe"}).content.decode()
    assert recording.calls == [("search", "zebra"), ("search", "giraffe")]


def test_reindexing_goes_through_the_configured_backend(recording, tenant):
    tasks.reindex_tenant(str(tenant.pk))
    call_command("rebuild_search_index", "--tenant", tenant.slug, stdout=io.StringIO())
    assert recording.calls == [("reindex", str(tenant.pk)), ("reindex", str(tenant.pk))]


def test_an_unknown_option_is_refused(settings):
    settings.SEARCH_BACKEND = {"BACKEND": "files.search.postgres.PostgresSearchBackend", "OPTIONS": {"nope": 1}}
    with pytest.raises(TypeError):
        get_search_backend()


def _names_in_migrations() -> set[str]:
    """Every `<folder>/<object>.v<N>` string the migrations name (they pass them to load_sql)."""
    return {
        node.value
        for path in MIGRATIONS.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_NAME.match(node.value)
    }


def test_every_sql_version_the_migrations_load_exists_and_every_file_is_loaded():
    named = _names_in_migrations()
    assert {"search/vector_function.v1", "search/vector_function.v2", "search/terms_function.v2"} <= named
    for name in named:
        assert load_sql(name).strip(), name
    on_disk = {str(p.relative_to(SQL_ROOT).with_suffix("")) for p in SQL_ROOT.rglob("*.sql")}
    assert on_disk == named
    # Each object's versions run from v0 (its absence) up without a gap, so each one's reverse exists.
    versions = defaultdict(set)
    for name in named:
        obj, _, version = name.rpartition(".v")
        versions[obj].add(int(version))
    assert {obj: sorted(v) for obj, v in versions.items()} == {
        obj: list(range(max(v) + 1)) for obj, v in versions.items()
    }
