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


def _chunks(path: Path, size: int = 1024 * 1024):
    with open(path, "rb") as handle:
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
        paths = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        progress = Progress(len(paths), label="import", stream=self.stdout)
        folders: dict[Path, Folder | None] = {root: base}
        claimed: set = set()  # files already matched to a source file in this run
        imported, skipped, refused = 0, 0, []
        for path in paths:
            folder = self._mirror(membership, folders, root, path.parent)
            upload = HashedUpload.from_chunks(_chunks(path), name=path.name)
            existing = _imported_before(
                membership=membership, folder=folder, name=path.name, sha256=upload.sha256, claimed=claimed
            )
            if existing is not None:
                claimed.add(existing)
                skipped += 1
            else:
                try:
                    file = file_upload(
                        membership=membership,
                        upload=upload,
                        folder_id=folder.pk if folder else None,
                        on_conflict="rename",
                    )
                    claimed.add(file.pk)
                    imported += 1
                except ApplicationError as exc:
                    refused.append(f"{path.relative_to(root)}: {exc.detail}")
            progress.advance(path.name)
        progress.close()
        self.stdout.write(
            self.style.SUCCESS(f"Imported {imported}, skipped {skipped} already present, refused {len(refused)}.")
        )
        for line in refused:
            self.stdout.write(f"  refused {line}")

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

    def _mirror(self, membership, folders: dict, root: Path, directory: Path) -> Folder | None:
        if directory not in folders:
            parent = self._mirror(membership, folders, root, directory.parent)
            folders[directory] = self._child(membership, parent, directory.name)
        return folders[directory]
