"""Input every API view shares the handling of: query strings, lists' pages, JSON types.

Found by fuzzing (tests/test_fuzz_api.py): before, a NUL or a tampered cursor was a 500, and
the API took values its schema calls invalid.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def t(tenant, path: str = "") -> str:
    return f"/api/v1/tenants/{tenant.slug}/{path}"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("files/", {"tag": "a\x00b"}),
        ("files/", {"label": "\x00"}),
        ("files/", {"content_type": "image/\x00"}),
        ("search/", {"q": "otter\x00"}),
        ("folders/", {"parent": "\x00"}),
        ("analytics/activity/", {"verb": "\x00"}),
        ("files/", {"\x00": "x"}),
    ],
)
def test_a_nul_in_the_query_string_is_a_400(owner, tenant, path, params):
    response = owner.get(t(tenant, path), params)
    assert response.status_code == 400
    assert response.json() == {"detail": "Text may not contain NUL characters.", "code": "null_characters_not_allowed"}


def test_a_nul_in_a_page_query_is_a_400_page(client):
    response = client.get("/login/", {"next": "/\x00"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
