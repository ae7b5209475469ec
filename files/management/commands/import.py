"""`manage.py import PATH --tenant SLUG [--folder PATH]`: bring a directory tree in.

Folders are mirrored; a file an earlier run imported is skipped, so an interrupted import
can simply be run again. "Imported before" means a file in the same folder with the same
bytes under the name the upload made of this one: the cleaned name ("notes.txt." is stored
as "notes.txt"), in any case, or numbered after a clash ("photo (1).jpg" next to "Photo.jpg").
Each stored file answers for one source file only, so two sources with the same bytes and
names differing only by case are both imported, and both recognised on the next run.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, Role
from files.models import File, Folder
from files.names import clean_name
from files.services.files import file_upload
from files.services.folders import folder_create
from files.uploads import HashedUpload
from mediaportal.exceptions import ApplicationError
from mediaportal.progress import Progress


class SourceChanged(Exception):
    """A source file that is no longer a regular file reached without symbolic links."""


def _source_files(root: Path) -> list[Path]:
    """The regular files under `root`, relative to it; symbolic links (to files or to
    directories) are neither followed nor listed."""
    found = []
    for directory, _dirs, names, directory_fd in os.fwalk(root, follow_symlinks=False):
        for name in names:
            if stat.S_ISREG(os.stat(name, dir_fd=directory_fd, follow_symlinks=False).st_mode):
                found.append(Path(directory, name).relative_to(root))
    return sorted(found)


def _open_source(root_fd: int, relative: Path) -> int:
    """A descriptor of the file at `relative` under the root, opened without following a
    symbolic link at any step: what was listed may have been swapped for one since."""
    opened: list[int] = []
    directory_fd = root_fd
    try:
        for part in relative.parts[:-1]:
            directory_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory_fd)
            opened.append(directory_fd)
        # O_NONBLOCK: a FIFO swapped in must not hang the import on open.
        fd = os.open(relative.parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory_fd)
    except OSError as exc:
        raise SourceChanged(f"could not be opened as a regular file ({exc.strerror})") from None
    finally:
        for descriptor in opened:
            os.close(descriptor)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SourceChanged("is no longer a regular file")
    return fd


def _chunks(fd: int, size: int = 1024 * 1024):
    with open(fd, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def _imported_before(*, membership: Membership, folder: Folder | None, name: str, sha256: str, claimed: set):
    """The id of the file an earlier run made from this source file, or None (see the module docstring)."""
    clean = clean_name(name)
    stem, extension = os.path.splitext(clean)
    stored_as = re.compile(rf"{re.escape(stem)}(?: \(\d+\))?{re.escape(extension)}", re.IGNORECASE)
    # Files with these bytes in one folder are few, so the names are compared here.
    candidates = (
        File.objects.filter(tenant=membership.tenant, folder=folder, sha256=sha256, deleted_at__isnull=True)
        .order_by("created_at")
        .values_list("id", "name")
    )
    matches = [
        (file_id, stored) for file_id, stored in candidates if file_id not in claimed and stored_as.fullmatch(stored)
    ]
    # The exact name first: with "PHOTO.JPG" and "Photo (1).jpg" both stored, PHOTO.JPG is the first.
    matches.sort(key=lambda match: match[1] != clean)
    return matches[0][0] if matches else None


@dataclass
class _Run:
    membership: Membership
    folders: dict[Path, Folder | None]  # source directory (relative) → its folder
    claimed: set = field(default_factory=set)  # files already matched to a source file in this run
    imported: int = 0
    skipped: int = 0
    refused: list[str] = field(default_factory=list)


class Command(BaseCommand):
    help = "Import a directory tree into a tenant (folders mirrored, duplicates skipped, unsupported files listed)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument(
            "--folder", default="", help="Target folder path in the tenant, e.g. /Archive/2024 (created if missing)."
        )
        parser.add_argument(
            "--user", help="Username the files are attributed to (default: an owner, else an admin or editor)."
        )

    def handle(self, *args, **options) -> None:
        root = Path(options["path"]).expanduser()
        if not root.is_dir():
            raise CommandError(f"{root} is not a directory.")
        membership = self._membership(options["tenant"], options["user"])
        base = self._folder_path(membership, options["folder"])
        paths = _source_files(root)
        progress = Progress(len(paths), label="import", stream=self.stdout)
        run = _Run(membership=membership, folders={Path(): base})
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for path in paths:
                self._import(run, root_fd, path)
                progress.advance(path.name)
        finally:
            os.close(root_fd)
        progress.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {run.imported}, skipped {run.skipped} already present, refused {len(run.refused)}."
            )
        )
        for line in run.refused:
            self.stdout.write(f"  refused {line}")

    def _import(self, run: _Run, root_fd: int, path: Path) -> None:
        """Import the file at `path` (relative to the root) unless an earlier run did."""
        folder = self._mirror(run.membership, run.folders, path.parent)
        try:
            upload = HashedUpload.from_chunks(_chunks(_open_source(root_fd, path)), name=path.name)
        except SourceChanged as exc:
            run.refused.append(f"{path}: {exc}")
            return
        existing = _imported_before(
            membership=run.membership, folder=folder, name=path.name, sha256=upload.sha256, claimed=run.claimed
        )
        if existing is not None:
            run.claimed.add(existing)
            run.skipped += 1
            return
        try:
            file = file_upload(
                membership=run.membership, upload=upload, folder_id=folder.pk if folder else None, on_conflict="rename"
            )
        except ApplicationError as exc:
            run.refused.append(f"{path}: {exc.detail}")
            return
        run.claimed.add(file.pk)
        run.imported += 1

    def _membership(self, slug: str, username: str | None) -> Membership:
        memberships = Membership.objects.select_related("tenant", "user").filter(tenant__slug=slug)
        if username:
            membership = memberships.filter(user__username=username).first()
        else:  # the most senior member who may upload
            membership = next(
                (m for role in (Role.OWNER, Role.ADMIN, Role.EDITOR) for m in memberships.filter(role=role)[:1]), None
            )
        if membership is None:
            raise CommandError(f"No tenant {slug!r}, or that user is not a member of it.")
        return membership

    def _folder_path(self, membership: Membership, path: str) -> Folder | None:
        folder = None
        for name in [part for part in path.split("/") if part]:
            folder = self._child(membership, folder, name)
        return folder

    def _child(self, membership: Membership, parent: Folder | None, name: str) -> Folder:
        # Looked up under the name folder_create stores ("Scans." becomes "Scans").
        existing = Folder.objects.filter(
            tenant=membership.tenant,
            parent=parent,
            name__iexact=clean_name(name, kind="folder"),
            deleted_at__isnull=True,
        ).first()
        return existing or folder_create(membership=membership, name=name, parent_id=parent.pk if parent else None)

    def _mirror(self, membership, folders: dict, directory: Path) -> Folder | None:
        if directory not in folders:
            parent = self._mirror(membership, folders, directory.parent)
            folders[directory] = self._child(membership, parent, directory.name)
        return folders[directory]
