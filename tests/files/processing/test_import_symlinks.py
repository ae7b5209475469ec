"""The import command reads only regular files inside the tree it was given: a symbolic link
swapped in after the tree was listed is not followed, for a file or for a directory."""

from __future__ import annotations

import importlib
import io
import os

import pytest
from django.core.management import call_command

from files.models import File
from mediaportal.progress import Progress
from tests.files.conftest import tenant_objects

pytestmark = pytest.mark.django_db

command_module = importlib.import_module("files.management.commands.import")


def test_import_does_not_follow_symlinks_swapped_in_after_listing(editor, tenant, tmp_path, monkeypatch):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "key.txt").write_bytes(b"the server's private key")
    (secrets / "notes.txt").write_bytes(b"the server's other secret")
    tree = tmp_path / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "key.txt").write_bytes(b"a harmless note")
    (tree / "docs" / "notes.txt").write_bytes(b"another harmless note")
    (tree / "kept.txt").write_bytes(b"a file nobody touches")

    class SwapAfterListing(Progress):
        """The command makes its progress bar between listing the tree and reading it: the
        moment an attacker with write access to the tree swaps files for links."""

        def __init__(self, *args, **kwargs):
            (tree / "key.txt").unlink()
            os.symlink(secrets / "key.txt", tree / "key.txt")
            (tree / "docs" / "notes.txt").unlink()
            (tree / "docs").rmdir()
            os.symlink(secrets, tree / "docs")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(command_module, "Progress", SwapAfterListing)
    out = io.StringIO()
    call_command("import", str(tree), "--tenant", tenant.slug, stdout=out)

    text = out.getvalue()
    assert "Imported 1, skipped 0 already present, refused 2." in text
    assert "refused key.txt: could not be opened as a regular file" in text
    assert "refused docs/notes.txt: could not be opened as a regular file" in text
    assert list(File.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["kept.txt"]
    assert len(tenant_objects(tenant)) == 1


def test_import_lists_no_symlinks_and_no_files_behind_linked_directories(editor, tenant, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not part of the tree")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "real.txt").write_bytes(b"part of the tree")
    os.symlink(outside / "secret.txt", tree / "link.txt")
    os.symlink(outside, tree / "linked")
    out = io.StringIO()
    call_command("import", str(tree), "--tenant", tenant.slug, stdout=out)
    assert "Imported 1, skipped 0 already present, refused 0." in out.getvalue()
    assert list(File.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["real.txt"]
