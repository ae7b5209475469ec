from __future__ import annotations

import inspect
import re

import pytest
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


def _api_views() -> dict[str, type]:
    """Every /api/v1/ route in the URL configuration, in OpenAPI path form, with its view class."""
    views: dict[str, type] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, route)
            elif route.startswith("api/v1/"):
                views["/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)] = pattern.callback.cls

    walk(get_resolver().url_patterns, "")
    return views


def _api_paths() -> set[str]:
    return set(_api_views())


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker) -> dict:
    # Generating builds mock requests, and some views look their tenant up (read-only) while doing so.
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _json_body(schema: dict, response: dict) -> dict | None:
    body = response.get("content", {}).get("application/json", {}).get("schema")
    return None if body is None else _resolve(schema, body)


def _paginates(view) -> bool:
    """The view returns one page through `paginate()` or a paginator of its own."""
    source = inspect.getsource(view.get)
    return "paginate(" in source or "get_paginated_response(" in source


def test_every_paginated_list_documents_the_envelope_and_its_parameters(schema):
    lists = {path: view for path, view in _api_views().items() if hasattr(view, "get") and _paginates(view)}
    tenant = "/api/v1/tenants/{tenant_slug}/"
    assert set(lists) >= {
        "/api/v1/auth/tokens/",
        "/api/v1/tenants/",
        tenant + "members/",
        tenant + "folders/",
        tenant + "files/",
        tenant + "files/{file_id}/versions/",
        tenant + "shares/",
        tenant + "groups/",
        tenant + "analytics/activity/",
    }
    for path, _view in lists.items():
        operation = schema["paths"][path]["get"]
        body = _json_body(schema, operation["responses"]["200"])
        assert body is not None, path
        assert body["type"] == "object" and set(body["required"]) >= {"results", "next", "previous"}, path
        assert body["properties"]["results"]["type"] == "array", path
        assert body["properties"]["next"].get("nullable") and body["properties"]["previous"].get("nullable"), path
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert {"cursor", "page_size"} <= query, path
        assert operation["operationId"].endswith("_list"), path


def test_operation_ids_are_unique_without_numbering(schema):
    # drf-spectacular resolves clashes by appending _2, _3, …: names clients would then depend on.
    ids = [operation["operationId"] for operations in schema["paths"].values() for operation in operations.values()]
    assert len(ids) == len(set(ids))
    assert not [i for i in ids if re.search(r"_\d+$", i)]


def test_no_operation_documents_a_bare_array(schema):
    # Lists always come in the {"results", "next", "previous"} envelope (DESIGN.md §5).
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                body = _json_body(schema, response)
                assert body is None or body.get("type") != "array", f"{method} {path} {status}"


def test_every_error_response_documents_the_error_body(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
                assert ref, f"{method} {path} {status} has no error body"
                body = _resolve(schema, {"$ref": ref})
                assert {"detail", "code"} <= set(body["required"]), f"{method} {path} {status}"
    errors = schema["components"]["schemas"]
    assert set(errors["ErrorOutput"]["properties"]) == {"detail", "code"}
    assert "errors" in errors["ValidationErrorOutput"]["properties"]
    throttled = schema["paths"]["/api/v1/auth/login/"]["post"]["responses"]["429"]
    assert "retry_after" in _json_body(schema, throttled)["properties"]


def test_schema_documents_every_endpoint_with_shapes(schema):
    documented = set(schema["paths"])
    assert _api_paths() <= documented, _api_paths() - documented
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("responses"), f"{method} {path} has no responses"
            # Actions that take no input (logout, restore, empty the trash) have no body.
            if method in ("post", "patch", "put") and not path.endswith(
                (
                    "/logout/",
                    "/restore/",
                    "/empty/",
                    "/reprocess/",
                    "/exports/",
                    "/ping/",
                    "/redeliver/",
                    "/verification/",
                    "/mfa/totp/",
                    "/resend/",
                    "/accept/",
                    "/sign-out-others/",
                )
            ):
                assert "requestBody" in operation, f"{method} {path} has no request body"
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_schema_and_docs_are_served_with_local_assets(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/auth/login/" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page and "/static/drf_spectacular_sidecar/" in page
    assert "cdn." not in page and "unpkg" not in page
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_operations_do_not_inherit_mixin_docs(schema):
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert "Resolves `tenant_slug`" not in operation.get("description", ""), path


def _components(schema: dict) -> dict:
    return schema["components"]["schemas"]


def test_the_schema_states_the_rules_the_api_checks(schema):
    # Each of these was a disagreement between the schema and the API that fuzzing found.
    uploads = {"/api/v1/tenants/{tenant_slug}/files/", "/api/v1/tenants/{tenant_slug}/files/{file_id}/versions/"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "400" in operation["responses"], f"{method} {path}"
            body = operation.get("requestBody", {}).get("content", {})
            expected = {"multipart/form-data"} if path in uploads and method == "post" else {"application/json"}
            assert not body or set(body) == expected, f"{method} {path}: {set(body)}"
            for parameter in operation.get("parameters", []):
                kind = parameter["schema"]
                if parameter["in"] == "query" and kind.get("type") != "array" and kind != {"type": "string"}:
                    assert parameter.get("allowEmptyValue") is True, f"{method} {path} {parameter['name']}"
    for path in uploads:
        assert "415" in schema["paths"][path]["post"]["responses"]
    assert "errors" not in _components(schema)["ValidationErrorOutput"]["required"]


def test_the_schema_states_the_shapes_of_inputs(schema):
    components = _components(schema)
    tenant = "/api/v1/tenants/{tenant_slug}/"
    for path in (tenant + "files/{object_id}/permissions/", tenant + "shares/"):
        body = schema["paths"][path]["post"]["requestBody"]
        assert body["required"] is True, path
        assert len(_resolve(schema, body["content"]["application/json"]["schema"])["oneOf"]) == 2, path
    assert components["GrantToUserInputRequest"]["required"] == ["permissions", "user"]
    assert components["GrantToUserInputRequest"]["properties"]["permissions"]["minItems"] == 1
    assert components["ShareFileInputRequest"]["properties"]["max_downloads"]["maximum"] == 2**31 - 1
    assert components["RegisterInputRequest"]["properties"]["username"]["pattern"] == r"^[\w.@+-]{3,150}$"
    assert components["RegisterInputRequest"]["properties"]["password"]["minLength"] == 8
    slug = components["TenantInputRequest"]["properties"]["slug"]["oneOf"][0]
    assert slug["pattern"] == "^[a-z0-9]+(?:[-_][a-z0-9]+)*$"
    assert components["FolderCreateInputRequest"]["properties"]["name"]["pattern"] == r"\S"
    assert components["GroupInputRequest"]["required"] == ["name"]
    page_size = next(p for p in schema["paths"]["/api/v1/tenants/"]["get"]["parameters"] if p["name"] == "page_size")
    assert page_size["schema"]["minimum"] == 1
