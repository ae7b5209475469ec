"""Input every API view shares the handling of: query strings, lists' pages, JSON types.

Found by fuzzing (tests/test_fuzz_api.py): before, a NUL or a tampered cursor was a 500, and
the API took values its schema calls invalid.
"""

from __future__ import annotations

import base64

import pytest

from accounts.models import ApiToken, Role

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


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",  # not base64: DRF answered 404
        _cursor("p=not a date"),  # a position created_at cannot compare with: was a 500
        _cursor("p=2024-13-45"),
        _cursor("r=x"),
    ],
)
def test_a_cursor_the_list_did_not_make_is_a_400(owner, cursor):
    response = owner.get("/api/v1/tenants/", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid cursor.", "code": "invalid_cursor"}


@pytest.mark.parametrize("path", ["files/", "analytics/activity/", "shares/"])
def test_a_tampered_cursor_is_a_400_on_every_list(owner, tenant, path):
    response = owner.get(t(tenant, path), {"cursor": _cursor("p=x")})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("size", ["abc", "0", "-3", "1.5"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_a_400(owner, size):
    response = owner.get("/api/v1/tenants/", {"page_size": size})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_page_size"


def test_a_large_page_size_gives_the_largest_page(owner, tenant):
    for n in range(3):
        owner.post("/api/v1/auth/tokens/", {"name": f"t{n}"}, format="json")
    response = owner.get("/api/v1/auth/tokens/", {"page_size": "100000"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == ApiToken.objects.filter(user=owner.user).count()


@pytest.mark.parametrize(("path", "name"), [("files/", "subtree"), ("search/", "facets"), ("search/", "subtree")])
def test_a_yes_no_parameter_takes_only_yes_or_no(owner, tenant, path, name):
    response = owner.get(t(tenant, path), {name: "null"})
    assert response.status_code == 400
    assert response.json() == {"detail": f"{name} must be true or false.", "code": "invalid_parameter"}
    assert owner.get(t(tenant, path), {name: "true"}).status_code == 200


def test_deleting_takes_only_yes_or_no_for_permanent(owner, tenant):
    folder = owner.post(t(tenant, "folders/"), {"name": "A"}, format="json").json()
    response = owner.delete(t(tenant, f"folders/{folder['id']}/?permanent=maybe"))
    assert response.status_code == 400
    assert owner.get(t(tenant, f"folders/{folder['id']}/")).status_code == 200


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("files/", {"ordering": "", "status": "", "type": "", "tag": "", "created_after": "", "page_size": ""}),
        ("search/", {"facets": "", "subtree": "", "taken_before": "", "cursor": ""}),
        ("folders/", {"parent": "", "page_size": ""}),
    ],
)
def test_an_empty_query_value_is_the_same_as_none(owner, tenant, path, params):
    assert owner.get(t(tenant, path), params).json() == owner.get(t(tenant, path)).json()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("folders/", {"name": 2024}),
        ("groups/", {"name": "Team", "members": [5]}),
        ("shares/", {"file": 5}),
        ("shares/", {"folder": "0b1f6e3c-5b5a-4d2b-9b1a-2f4f3c1d2e3f", "allow_upload": "yes"}),
        ("uploads/", {"filename": "a.txt", "size": "5"}),
    ],
)
def test_json_values_of_another_type_are_a_400(owner, tenant, path, body):
    response = owner.post(t(tenant, path), body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_string_is_measured_as_sent(owner):
    response = owner.post("/api/v1/tenants/", {"name": " " * 5 + "x" * 120}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["Ensure this field has no more than 120 characters."]}
    assert owner.post("/api/v1/tenants/", {"name": " Padded "}, format="json").json()["name"] == "Padded"


def test_changing_a_member_with_nothing_to_change_answers_the_member(owner, tenant, member):
    colleague = member(Role.EDITOR).user
    response = owner.patch(t(tenant, f"members/{colleague.id}/"), {}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == Role.EDITOR
