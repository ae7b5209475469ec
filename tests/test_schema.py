from __future__ import annotations

import pytest
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


def _api_paths() -> set[str]:
    """Every /api/v1/ route in the URL configuration, in OpenAPI path form."""
    import re

    paths: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, route)
            elif route.startswith("api/v1/"):
                paths.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))

    walk(get_resolver().url_patterns, "")
    return paths


def test_schema_documents_every_endpoint_with_shapes():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = set(schema["paths"])
    assert _api_paths() <= documented, _api_paths() - documented
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("responses"), f"{method} {path} has no responses"
            # Actions that take no input (logout, restore, empty the trash) have no body.
            if method in ("post", "patch", "put") and not path.endswith(
                ("/logout/", "/restore/", "/empty/", "/reprocess/")
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


def test_operations_do_not_inherit_mixin_docs():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert "Resolves `tenant_slug`" not in operation.get("description", ""), path
