"""`backup` on the test database (it only reads), and what `restore` checks before it touches
anything. Restoring itself replaces a whole database: tests/e2e/test_drills.py does it on one
of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from files import storage
from files.models import Blob, BlobTier, Rendition
from files.services.backup import BackupError, backup_read, code_migrations
from files.services.processing_run import file_process
from files.services.restore import migrations_check
from mediaportal import pgtools
from tests.files.conftest import sha, upload
from tests.helpers import CORPUS


@pytest.mark.django_db(transaction=True)
def test_a_backup_holds_a_dump_and_every_object_with_its_bucket(editor, tenant, tmp_path):
    photo = upload(editor, tenant, "hopper.webp", (CORPUS / "image_formats" / "hopper.webp").read_bytes()).json()
    file_process(file_id=photo["id"])
    upload(editor, tenant, "cold.txt", b"archived long ago")
    # Archived (files.services.lifecycle moves the object; here only the row says so).
    Blob.objects.filter(tenant=tenant, sha256=sha(b"archived long ago")).update(
        tier=BlobTier.ARCHIVE, archived_at=timezone.now()
    )
    target = tmp_path / "nightly" / "2026-12-06"
    call_command("backup", str(target))

    info = backup_read(target)  # checks both files against their checksums
    assert sorted(path.name for path in target.iterdir()) == ["backup.json", "database.dump", "manifest.jsonl"]
    assert info["counts"]["files"] == 2 and info["database"]["size"] > 0
    assert set(info["migrations"]) == {f"{app}.{name}" for app, name in code_migrations()}
    lines = [json.loads(line) for line in (target / "manifest.jsonl").read_text().splitlines()]
    blobs = {line["sha256"]: line for line in lines if line["kind"] == "blob"}
    assert blobs[sha(b"archived long ago")]["role"] == "archive"
    assert blobs[photo["sha256"]]["role"] == "primary"
    assert blobs[photo["sha256"]]["key"] == storage.blob_key(tenant.pk, photo["sha256"])
    renditions = {line["key"] for line in lines if line["kind"] == "rendition"}
    assert renditions == set(Rendition.objects.filter(tenant=tenant).values_list("storage_key", flat=True))
    assert info["manifest"]["objects"] == len(lines)
    assert info["manifest"]["bytes"] == sum(line["size"] for line in lines)


@pytest.mark.django_db
def test_a_backup_goes_into_a_new_or_empty_folder_only(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "backup.json").write_text("{}")
    with pytest.raises(CommandError, match="not an empty folder"):
        call_command("backup", str(tmp_path / "old"))


def test_restore_refuses_an_unfinished_or_damaged_backup(tmp_path):
    with pytest.raises(BackupError, match="no finished backup"):
        backup_read(tmp_path)
    (tmp_path / "database.dump").write_bytes(b"dump")
    (tmp_path / "manifest.jsonl").write_bytes(b"")
    info = {
        "format": "mediaportal-backup",
        "database": {"file": "database.dump", "sha256": sha(b"dump")},
        "manifest": {"file": "manifest.jsonl", "sha256": sha(b"")},
    }
    (tmp_path / "backup.json").write_text(json.dumps(info))
    assert backup_read(tmp_path)["database"]["file"] == "database.dump"
    (tmp_path / "database.dump").write_bytes(b"dumq")
    with pytest.raises(BackupError, match="missing or damaged"):
        backup_read(tmp_path)
    with pytest.raises(CommandError, match="missing or damaged"):
        call_command("restore", str(tmp_path), "--no-input")


def test_restore_migrates_an_older_backup_and_refuses_a_newer_one():
    every = sorted(f"{app}.{name}" for app, name in code_migrations())
    assert migrations_check({"migrations": every}) == []
    assert migrations_check({"migrations": every[1:]}) == [tuple(every[0].split(".", 1))]
    with pytest.raises(BackupError, match="newer code"):
        migrations_check({"migrations": [*every, "files.9999_from_the_future"]})


def test_the_nearest_client_not_older_than_the_server_is_used(monkeypatch, settings):
    settings.PG_BIN_DIR = ""
    found = {"/a/pg_dump": 15, "/b/pg_dump": 18, "/c/pg_dump": 16}
    monkeypatch.setattr(pgtools, "_candidates", lambda name: [Path(path) for path in found])
    monkeypatch.setattr(pgtools, "tool_major", lambda path: found[path])
    assert pgtools.pg_tool("pg_dump", at_least=16) == (Path("/c/pg_dump"), 16)
    assert pgtools.pg_tool("pg_dump", at_least=17) == (Path("/b/pg_dump"), 18)
    with pytest.raises(pgtools.ToolMissing, match="PostgreSQL 19 or newer"):
        pgtools.pg_tool("pg_dump", at_least=19)
