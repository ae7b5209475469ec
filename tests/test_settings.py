"""Settings as an operator meets them: each case imports the settings in a fresh process."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from django.conf import settings

PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def _run(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "MEDIAPORTAL_TEST_STACK_READY")
        and not k.startswith(("S3_", "EMBEDDED_"))
    }
    clean.update(DJANGO_SETTINGS_MODULE="mediaportal.settings", MEDIAPORTAL_VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=clean, capture_output=True, text=True, timeout=60
    )


def test_local_mode_makes_a_private_secret_key_once_and_keeps_it(tmp_path):
    first = _run(tmp_path, PRINT_KEY)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50 and not key.startswith(("insecure", "django-insecure"))
    stored = tmp_path / "var" / "secret_key"
    assert stored.read_text().strip() == key
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert _run(tmp_path, PRINT_KEY).stdout.strip() == key
    # Another folder (another installation) gets a key of its own.
    assert _run(tmp_path / "other", PRINT_KEY).stdout.strip() != key


def test_a_deployment_without_secret_key_refuses_to_start(tmp_path):
    result = _run(tmp_path, PRINT_KEY, DATABASE_URL="postgresql://mp@db.example.com/mediaportal")
    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: SECRET_KEY is not set. This is a deployment (configured: DATABASE_URL)" in result.stderr
    )
    assert not (tmp_path / "var" / "secret_key").exists()


def test_a_deployment_uses_the_secret_key_it_is_given(tmp_path):
    result = _run(tmp_path, PRINT_KEY, DATABASE_URL="postgresql://mp@db.example.com/mediaportal", SECRET_KEY="k" * 60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "k" * 60
