"""`manage.py import PATH --tenant SLUG [--folder PATH]`: bring a directory tree in.

Folders are mirrored; identical files already present (same folder, name and bytes) are
skipped, so an interrupted import can simply be run again.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, Role
from files.models import File, Folder
from files.services.files import file_upload
from files.services.folders import folder_create
from files.uploads import HashedUpload
from mediaportal.exceptions import ApplicationError
from mediaportal.progress import Progress


def _chunks(path: Path, size: int = 1024 * 1024):
    with open(path, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


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
        imported, skipped, refused = 0, 0, []
        for path in paths:
            folder = self._mirror(membership, folders, root, path.parent)
            upload = HashedUpload.from_chunks(_chunks(path), name=path.name)
            existing = File.objects.filter(
                tenant=membership.tenant, folder=folder, name=path.name, sha256=upload.sha256, deleted_at__isnull=True
            )
            if existing.exists():
                skipped += 1
            else:
                try:
                    file_upload(
                        membership=membership,
                        upload=upload,
                        folder_id=folder.pk if folder else None,
                        on_conflict="rename",
                    )
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
        existing = Folder.objects.filter(
            tenant=membership.tenant, parent=parent, name__iexact=name, deleted_at__isnull=True
        ).first()
        return existing or folder_create(membership=membership, name=name, parent_id=parent.pk if parent else None)

    def _mirror(self, membership, folders: dict, root: Path, directory: Path) -> Folder | None:
        if directory not in folders:
            parent = self._mirror(membership, folders, root, directory.parent)
            folders[directory] = self._child(membership, parent, directory.name)
        return folders[directory]
