"""Security headers on every page, and a deployment configuration that `check --deploy` passes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    return {parts[0]: parts[1] if len(parts) > 1 else "" for parts in directives}


@pytest.mark.parametrize("path", ["/login/", "/api/v1/auth/me/", "/s/unknown-token", "/admin/login/", "/readyz"])
def test_every_answer_carries_the_security_headers(client, path):
    response = client.get(path)
    policy = _policy(response)
    assert policy["script-src"] == "'self'" and "unsafe" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer"}
    assert response["X-Frame-Options"] == "DENY"


def test_pages_may_show_images_from_the_s3_address_browsers_use(client):
    from mediaportal.settings import _origin

    assert _origin(settings.S3_PUBLIC_ENDPOINT_URL) in _policy(client.get("/login/"))["img-src"]


def test_the_api_docs_run_without_inline_script(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>" not in html and "swagger-ui-bundle" in html
    assert _policy(page)["script-src"] == "'self'"


def test_a_production_configuration_passes_check_deploy():
    env = {
        **os.environ,
        "SECURE_SSL": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "portal.example.com",
        "DEBUG": "0",
    }
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='mediaportal.settings'; django.setup();"
            "from django.conf import settings as s;"
            "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    hsts, subdomains, session_secure, csrf_secure = shown.stdout.split()
    assert int(hsts) >= 365 * 24 * 3600 and subdomains == session_secure == csrf_secure == "True"
