from __future__ import annotations

from pathlib import Path

import pytest

from files.processing.labels import runtime


@pytest.fixture
def no_label_model(monkeypatch) -> None:
    """No classifier loaded in this process and no failure remembered, as in a fresh worker
    (the previous state comes back after the test)."""
    monkeypatch.setattr(runtime, "_session", None)
    monkeypatch.setattr(runtime, "_load_failure", None)


@pytest.fixture
def unwritable_model_cache(settings, tmp_path, no_label_model) -> Path:
    """MODEL_CACHE_DIR set to a directory that cannot be created, so the classifier cannot be
    cached and labels are really unavailable. Its parent is a regular file: that stops root
    too, which permission bits on a read-only directory do not. Remove the returned file to
    make the cache writable again."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    settings.MODEL_CACHE_DIR = blocker / "models"
    return blocker
