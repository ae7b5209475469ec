"""Rebuilding the database from the bucket alone (`restore_from_bucket`), for the day the
database and its backups are gone.

Each tenant's manifest (files.services.manifests) gives back the tenant, its members (their
accounts without a password: they set one through "forgot password"; e-mails kept), groups,
folders, blobs, files and versions, with their ids, so links into the portal keep working.
The rows of a tenant go in in one transaction. Then every object the rows name is looked
for (HEAD) in its bucket and, when missing, copied back from the replica, verified;
renditions whose objects are there are linked again, and files that lack one, or whose
extracted text (not in the manifest) searches need, are queued for processing. Blob
objects no manifest names (stored after the last one was written), and tenants that have
objects but no manifest, become files in a "Recovered" folder (files.services.recovery).
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.dateparse import parse_datetime

from accounts.models import Membership, Tenant, TenantGroup, User
from files import storage
from files.models import Blob, BlobTier, File, FileStatus, FileVersion, Folder, Rendition
from files.services.backup import blob_role
from files.services.manifests import TENANT_FIELDS, manifest_key, manifest_records
from files.services.processing import processing_queue_now
from files.services.quota import usage_settle
from files.services.recovery import recovered_files_create, unclaimed_blob_objects
from files.services.restore import ObjectsReport, objects_check

log = logging.getLogger(__name__)

BATCH = 1000
Progress = Callable[[str], None]


@dataclass
class TenantRestored:
    tenant_id: str
    slug: str = ""
    from_manifest: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    objects: ObjectsReport = field(default_factory=ObjectsReport)
    recovered: int = 0
    not_recovered: list[str] = field(default_factory=list)
    queued: int = 0


def bucket_tenant_ids(*, role: str) -> list[str]:
    """The tenants that have a prefix in the role's bucket (the primary's with the archive's:
    a tenant may have nothing but archived blobs)."""
    found = set()
    for bucket in ("primary", "archive") if role == "primary" else (role,):
        for prefix in storage.object_prefixes(storage.TENANTS_PREFIX, bucket):
            value = prefix[len(storage.TENANTS_PREFIX) :].rstrip("/")
            try:
                found.add(str(uuid.UUID(value)))
            except ValueError:
                log.info("restore from bucket: %s is not a tenant's prefix; left alone", prefix)
    return sorted(found)


def _when(value):
    return parse_datetime(value) if value else None


# --- The rows of one tenant, from its manifest -----------------------------------------------


class _Users:
    """Usernames → user ids, creating the accounts of members this database lacks."""

    def __init__(self) -> None:
        self._ids: dict[str, uuid.UUID | None] = {}

    def member(self, record: dict) -> uuid.UUID:
        user = User.objects.filter(username__iexact=record["username"]).first()
        if user is None:
            email = record["email"]
            if email and User.objects.filter(email__iexact=email).exists():
                log.warning(
                    "restore from bucket: %s's e-mail belongs to another account; left blank", record["username"]
                )
                email = ""
            user_id = uuid.UUID(record["user_id"])
            user = User(
                id=uuid.uuid4() if User.objects.filter(pk=user_id).exists() else user_id,
                username=record["username"],
                email=email,
                first_name=record["first_name"],
                last_name=record["last_name"],
                is_active=record["is_active"],
                date_joined=_when(record["date_joined"]),
            )
            user.set_unusable_password()  # they choose a new one ("forgot password")
            user.save(force_insert=True)
        self._ids[record["username"].lower()] = user.pk
        return user.pk

    def id(self, username: str | None) -> uuid.UUID | None:
        """A user by name (one who left the tenant may still exist elsewhere; else None)."""
        if not username:
            return None
        key = username.lower()
        if key not in self._ids:
            self._ids[key] = User.objects.filter(username__iexact=username).values_list("pk", flat=True).first()
        return self._ids[key]


def _tenant_create(record: dict) -> Tenant:
    values = {name: record[name] for name in TENANT_FIELDS}
    values["created_at"] = _when(values["created_at"])
    if Tenant.objects.filter(slug=values["slug"]).exists():
        values["slug"] = f"{values['slug'][:40]}-{record['id'][:8]}"
    return Tenant.objects.create(id=record["id"], **values)


def _group_create(tenant: Tenant, record: dict, users: _Users) -> None:
    auth_group = Group.objects.create(name=f"tenant:{tenant.pk}:{uuid.uuid4()}")
    TenantGroup.objects.create(
        id=record["id"], tenant=tenant, group=auth_group, name=record["name"], created_at=_when(record["created_at"])
    )
    auth_group.user_set.add(*[pk for pk in map(users.id, record["members"]) if pk])


def _folder(tenant: Tenant, record: dict, users: _Users) -> Folder:
    return Folder(
        id=record["id"],
        tenant=tenant,
        parent_id=record["parent"],
        name=record["name"],
        path=record["path"],
        created_by_id=users.id(record["created_by"]),
        created_at=_when(record["created_at"]),
        deleted_at=_when(record["deleted_at"]),
        deleted_by_id=users.id(record["deleted_by"]),
        trashed_via_id=record["trashed_via"],
    )


def _blob(tenant: Tenant, record: dict) -> Blob:
    tier = record["tier"] if record["tier"] != BlobTier.RETRIEVING else BlobTier.ARCHIVE
    return Blob(
        tenant=tenant,
        sha256=record["sha256"],
        size=record["size"],
        content_type=record["content_type"],
        storage_key=storage.blob_key(tenant.pk, record["sha256"]),
        tier=tier,
        created_at=_when(record["created_at"]),
        archived_at=_when(record["archived_at"]) if tier == BlobTier.ARCHIVE else None,
    )


def _file(tenant: Tenant, record: dict, users: _Users) -> File:
    return File(
        id=record["id"],
        tenant=tenant,
        folder_id=record["folder"],
        name=record["name"],
        owner_id=users.id(record["owner"]),
        visibility=record["visibility"],
        description=record["description"],
        tags=record["tags"],
        labels=record["labels"],
        metadata=record["metadata"],
        status=record["status"],
        error_code=record["error_code"],
        created_at=_when(record["created_at"]),
        last_accessed_at=_when(record["last_accessed_at"]),
        deleted_at=_when(record["deleted_at"]),
        deleted_by_id=users.id(record["deleted_by"]),
        trashed_via_id=record["trashed_via"],
    )


class _Files:
    """Files and their versions, inserted a batch at a time."""

    def __init__(self, tenant: Tenant, users: _Users) -> None:
        self.tenant, self.users = tenant, users
        self.records: list[dict] = []
        self.to_process: list[str] = []  # files whose text or processing must be redone
        self.counts = {"files": 0, "versions": 0}

    def add(self, record: dict) -> None:
        self.records.append(record)
        if len(self.records) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.records:
            return
        shas = {version["sha256"] for record in self.records for version in record["versions"]}
        blob_ids = dict(Blob.objects.filter(tenant=self.tenant, sha256__in=shas).values_list("sha256", "pk"))
        files = {record["id"]: _file(self.tenant, record, self.users) for record in self.records}
        File.objects.bulk_create(files.values())
        versions = []
        for record in self.records:
            for version in record["versions"]:
                versions.append(
                    FileVersion(
                        tenant=self.tenant,
                        file_id=record["id"],
                        number=version["number"],
                        blob_id=blob_ids[version["sha256"]],
                        uploaded_by_id=self.users.id(version["uploaded_by"]),
                        created_at=_when(version["created_at"]),
                        comment=version["comment"],
                    )
                )
        self._current(files, FileVersion.objects.bulk_create(versions))
        self.counts["files"] += len(files)
        self.counts["versions"] += len(versions)
        self.records = []

    def _current(self, files: dict[str, File], versions: list[FileVersion]) -> None:
        """Each file points at its current version and copies its size, type and SHA-256."""
        for record in self.records:
            file = files[record["id"]]
            for version in record["versions"]:
                if version["number"] == record["current"]:
                    file.size, file.content_type, file.sha256 = (
                        version["size"],
                        version["content_type"],
                        version["sha256"],
                    )
            if record["text"] or record["status"] in (FileStatus.PENDING, FileStatus.PROCESSING):
                self.to_process.append(record["id"])
        current = {record["id"]: record["current"] for record in self.records}
        for version in versions:
            if current[str(version.file_id)] == version.number:
                files[str(version.file_id)].current_version_id = version.pk
        File.objects.bulk_update(files.values(), ["current_version", "size", "content_type", "sha256"])


def _rows_restore(lines, *, progress: Progress | None) -> tuple[Tenant, _Files, dict[str, int]]:
    """Insert the tenant's rows from its manifest's lines (in the caller's transaction).
    Foreign keys are checked at commit (DEFERRABLE INITIALLY DEFERRED), so a folder may
    come before its parent."""
    records = manifest_records(lines)
    header = next(records)[1]
    tenant = _tenant_create(header["tenant"])
    users = _Users()
    files = _Files(tenant, users)
    batch: list = []
    counts = {"members": 0, "groups": 0, "folders": 0, "blobs": 0}
    models = {"folders": Folder, "blobs": Blob}
    previous = None
    for section, record in records:
        if section != previous or len(batch) >= BATCH:
            if batch:
                models[previous].objects.bulk_create(batch)
            batch, previous = [], section
        if section == "members":
            Membership.objects.create(
                tenant=tenant, user_id=users.member(record), role=record["role"], created_at=_when(record["since"])
            )
        elif section == "groups":
            _group_create(tenant, record, users)
        elif section == "folders":
            batch.append(_folder(tenant, record, users))
        elif section == "blobs":
            batch.append(_blob(tenant, record))
        elif section == "files":
            files.add(record)
            if progress:
                progress(record["name"])
        counts[section] = counts.get(section, 0) + 1
    if batch:
        models[previous].objects.bulk_create(batch)
    files.flush()
    counts.pop("renditions", None)
    return tenant, files, {**counts, **files.counts}


# --- Objects, renditions and processing -----------------------------------------------------


def _object_lines(tenant: Tenant, manifest) -> Iterator[dict]:
    """What objects_check looks for: every blob the rows name, then every rendition."""
    blobs = Blob.objects.filter(tenant=tenant).order_by("sha256").values_list("sha256", "size", "content_type", "tier")
    for sha256, size, content_type, tier in blobs.iterator(chunk_size=BATCH):
        yield {"kind": "blob", "key": storage.blob_key(tenant.pk, sha256), "role": blob_role(tier),
               "tenant": str(tenant.pk), "sha256": sha256, "size": size, "content_type": content_type}  # fmt: skip
    manifest.seek(0)
    keys = set()
    for section, record in manifest_records(manifest):
        if section == "renditions" and record["key"] not in keys:  # two kinds may share one object
            keys.add(record["key"])
            yield {"kind": "rendition", "key": record["key"], "role": "primary", "tenant": str(tenant.pk),
                   "sha256": record["sha256"], "size": record["size"], "content_type": f"image/{record['format']}",
                   "blob": record["blob"]}  # fmt: skip


def _renditions_link(tenant: Tenant, manifest, present: set[str]) -> set[str]:
    """Rendition rows for the objects that are there; returns the blobs missing one."""
    manifest.seek(0)
    rows, lacking = [], set()
    for section, record in manifest_records(manifest):
        if section != "renditions":
            continue
        if record["key"] not in present:
            lacking.add(record["blob"])
            continue
        rows.append(record)
    blob_ids = dict(
        Blob.objects.filter(tenant=tenant, sha256__in={r["blob"] for r in rows}).values_list("sha256", "pk")
    )
    Rendition.objects.bulk_create(
        [
            Rendition(
                tenant=tenant,
                blob_id=blob_ids[r["blob"]],
                kind=r["kind"],
                format=r["format"],
                width=r["width"],
                height=r["height"],
                size=r["size"],
                storage_key=r["key"],
                sha256=r["sha256"],
                created_at=_when(r["created_at"]),
            )
            for r in rows
        ],
        batch_size=BATCH,
    )
    return lacking


def _objects_restore(tenant: Tenant, manifest, progress: Progress | None) -> tuple[ObjectsReport, set[str]]:
    present: set[str] = set()

    def checked(line: dict, outcome: str) -> None:
        if line["kind"] == "rendition" and outcome in ("ok", "copied"):
            present.add(line["key"])
        if progress:
            progress(outcome)

    report = objects_check(lines=_object_lines(tenant, manifest), copy_from_replica=True, on_checked=checked)
    return report, _renditions_link(tenant, manifest, present)


def _processing_queue(tenant: Tenant, file_ids: list[str], lacking: set[str]) -> int:
    """Queue processing for the live, hot files among `file_ids` and those whose current
    blob lacks a rendition; returns how many were queued."""
    live = File.objects.filter(
        tenant=tenant, deleted_at__isnull=True, current_version__blob__tier=BlobTier.HOT
    ).values_list("pk", "current_version_id")
    queued, seen = 0, set()
    chunks = [live.filter(pk__in=file_ids[at : at + BATCH]) for at in range(0, len(file_ids), BATCH)]
    shas = sorted(lacking)
    chunks += [
        live.filter(current_version__blob__sha256__in=shas[at : at + BATCH]) for at in range(0, len(shas), BATCH)
    ]
    for chunk in chunks:
        for file_id, version_id in chunk:
            if file_id not in seen:
                seen.add(file_id)
                queued += processing_queue_now(file_id=file_id, version_id=version_id)
    return queued


# --- One tenant ------------------------------------------------------------------------------


def manifest_fetch(*, tenant_id: str, role: str):
    """The tenant's manifest in a temporary file (read from the start), or None."""
    opened = storage.object_open(manifest_key(tenant_id), role=role)
    if opened is None:
        return None
    spool = tempfile.TemporaryFile()
    for chunk in opened.chunks:
        spool.write(chunk)
    spool.seek(0)
    return spool


# What the caller shows progress with: called with a phase's label and total, it returns
# the function each step of the phase calls.
Phases = Callable[[str, int], Progress]


def tenant_restore(*, tenant_id: str, role: str = "primary", reprocess: bool = True, phases: Phases) -> TenantRestored:
    """Rebuild one tenant from the bucket (see the module's docstring)."""
    result = TenantRestored(tenant_id=tenant_id)
    manifest = manifest_fetch(tenant_id=tenant_id, role=role)
    if manifest is None:
        result.from_manifest = False
        tenant = Tenant.objects.create(
            id=tenant_id, slug=f"recovered-{tenant_id[:8]}", name=f"Recovered {tenant_id[:8]}"
        )
        result.slug = tenant.slug
        log.warning(
            "restore from bucket: tenant %s has objects but no manifest; restored as %s", tenant_id, tenant.slug
        )
    else:
        with manifest:
            header = next(manifest_records(manifest))[1]
            manifest.seek(0)
            with transaction.atomic():
                tenant, files, result.counts = _rows_restore(
                    manifest, progress=phases("files", header["counts"]["files"])
                )
            result.slug = tenant.slug
            objects = header["counts"]["blobs"] + header["counts"].get("renditions", 0)
            result.objects, lacking = _objects_restore(tenant, manifest, phases("objects", objects))
        if reprocess:
            result.queued = _processing_queue(tenant, files.to_process, lacking)
    entries = unclaimed_blob_objects(tenant_id=tenant_id)
    result.recovered, result.not_recovered = recovered_files_create(
        entries=entries, progress=phases("recovered", len(entries)) if entries else None
    )
    usage_settle(tenant_id=tenant_id)  # one usage row per blob batch, folded into one
    return result
