"""Errors Django raises before or outside DRF: JSON {"detail", "code"} under /api/, pages elsewhere."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import get_resolver

pytestmark = pytest.mark.django_db


def test_a_body_over_the_memory_limit_is_a_json_413(settings):
    body = '{"username": "%s", "password": "x"}' % ("x" * (3 * 1024 * 1024))
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = Client().post("/api/v1/auth/login/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "The request body is too large.", "code": "request_too_large"}


def test_a_host_not_served_is_a_json_400_for_the_api_and_a_page_elsewhere():
    client = Client(HTTP_HOST="evil.example.com")
    response = client.get("/api/v1/auth/me/")
    assert response.status_code == 400
    assert response.json() == {"detail": "This host name is not served here.", "code": "disallowed_host"}
    page = client.get("/login/")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


def test_permission_denied_outside_drf_is_json_under_the_api():
    handler = get_resolver().resolve_error_handler(403)
    api = handler(RequestFactory().get("/api/v1/anything/"), exception=PermissionDenied())
    assert api.status_code == 403
    assert api["Content-Type"] == "application/json"
    assert b'"code": "permission_denied"' in api.content
    page = handler(RequestFactory().get("/t/team/"), exception=PermissionDenied())
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


def _end_session_of(conn) -> None:
    """End the database session behind `conn` from another one, as a restart or failover does."""
    pid = conn.connection.get_backend_pid()
    other = conn.get_new_connection(conn.get_connection_params())
    try:
        other.cursor().execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_the_database_lost_mid_request_is_a_503_not_a_500(editor, tenant):
    url = f"/api/v1/tenants/{tenant.slug}/files/"
    assert editor.get(url).status_code == 200
    _end_session_of(connection)
    response = editor.get(url)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["code"] == "database_unavailable"
    # The end of a real request closes the broken connection (the test client skips that).
    connection.close()
    assert editor.get(url).status_code == 200

    browser = Client()
    browser.force_login(editor.user)
    _end_session_of(connection)
    page = browser.get(f"/t/{tenant.slug}/")
    assert page.status_code == 503 and "Temporarily unavailable" in page.content.decode()
    connection.close()
