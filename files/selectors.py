"""Reads for folders, files, versions and the trash; always tenant-scoped, foreign ids are 404."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware

from accounts.models import Membership
from files.models import File, FileStatus, FileVersion, Folder, OcrPage, Rendition, RenditionKind
from files.permissions import (
    can_change_file,
    can_list_integrity_lost,
    file_ids_visible_to,
    publicly_visible,
    trash_files_visible,
    trash_folders_visible,
    visible_files,
)
from mediaportal.exceptions import Forbidden, NotFound, ValidationFailed, parse_id
from mediaportal.http import query_flag
from mediaportal.queries import one_or_none

TYPE_GROUPS: dict[str, Q] = {
    "image": Q(content_type__startswith="image/"),
    "pdf": Q(content_type="application/pdf"),
    "document": Q(content_type="application/pdf")
    | Q(content_type__startswith="application/vnd.openxmlformats-officedocument")
    | Q(content_type__startswith="application/vnd.oasis.opendocument")
    | Q(
        content_type__in=[
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/rtf",
        ]
    ),
    "text": Q(content_type__startswith="text/"),
    "video": Q(content_type__startswith="video/"),
    "audio": Q(content_type__startswith="audio/"),
}


def type_group(content_type: str) -> str:
    """The `type` filter value a content type is listed under ("other" for none of them), read
    off TYPE_GROUPS itself; a PDF counts as a document, as in the search facets."""
    for name, condition in TYPE_GROUPS.items():
        if name != "pdf" and _q_matches(condition, content_type):
            return name
    return "other"


def _q_matches(condition: Q, content_type: str) -> bool:
    """Whether a content type satisfies a Q of TYPE_GROUPS (content_type lookups only)."""
    results = []
    for child in condition.children:
        if isinstance(child, Q):
            results.append(_q_matches(child, content_type))
            continue
        lookup, value = child
        if lookup == "content_type__startswith":
            results.append(content_type.startswith(value))
        elif lookup == "content_type__in":
            results.append(content_type in value)
        else:  # "content_type"
            results.append(content_type == value)
    matched = any(results) if condition.connector == Q.OR else all(results)
    return matched != condition.negated


# --- Folders ----------------------------------------------------------------------


def folder_get(*, membership: Membership, folder_id, include_trashed: bool = False) -> Folder:
    folders = Folder.objects.filter(tenant_id=membership.tenant_id, pk=parse_id(folder_id, "Folder"))
    if not include_trashed:
        folders = folders.filter(deleted_at__isnull=True)
    folder = folders.first()
    if folder is None:
        raise NotFound("Folder not found.")
    return folder


def folder_list(
    *, membership: Membership, parent_id=None, parent: Folder | None = None, visible: QuerySet | None = None
) -> QuerySet[Folder]:
    """Live children of `parent_id` (the root when None), with file and subfolder counts.

    A caller that holds the parent folder, or the member's `file_ids_visible_to` subquery
    (the browse page: building it is most of an editor's query-building time), passes them."""
    if parent is None and parent_id:
        parent = folder_get(membership=membership, folder_id=parent_id)
    visible = file_ids_visible_to(membership=membership) if visible is None else visible
    file_counts = (
        File.objects.filter(folder=OuterRef("pk"), deleted_at__isnull=True, id__in=visible)
        .order_by()
        .values("folder")
        .annotate(n=Count("id"))
        .values("n")
    )
    folder_counts = (
        Folder.objects.filter(parent=OuterRef("pk"), deleted_at__isnull=True)
        .order_by()
        .values("parent")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Folder.objects.filter(tenant_id=membership.tenant_id, parent=parent, deleted_at__isnull=True).annotate(
        file_count=Coalesce(Subquery(file_counts), Value(0)),
        folder_count=Coalesce(Subquery(folder_counts), Value(0)),
    )


# --- Files ------------------------------------------------------------------------


def webp_renditions() -> Prefetch:
    """The renditions a file's answer links to (its WebP ones), for `prefetch_related`: one
    query per page, and a list of photos builds no rows for their JPEG fallbacks. Kept as the
    list `blob.webp_renditions` (see files.services.files.rendition_urls): without `to_attr`
    Django builds a related queryset for each blob, which cost a list of 50 photos more than
    the query itself (bench/request_cost.py)."""
    return Prefetch(
        "current_version__blob__renditions",
        queryset=Rendition.objects.filter(format="webp").only("blob_id", "kind", "format", "storage_key"),
        to_attr="webp_renditions",
    )


# The rows a file's answer reads beside the file; `_files(related=...)` takes fewer.
FILE_RELATED = ("owner", "folder", "current_version__blob")
WITHOUT_FOLDER = ("owner", "current_version__blob")


def _files(*, renditions: bool = True, related: tuple[str, ...] = FILE_RELATED) -> QuerySet[File]:
    # Renditions are prefetched in one query per page, not one per file. The text and the
    # vector stay in the database: no list shows them, and at 1M files carrying them made
    # search's sort spill to disk (bench/search.py).
    files = File.objects.select_related(*related).defer(*UNREAD_FIELDS)
    return files.prefetch_related(webp_renditions()) if renditions else files


# Only search reads these, in the database.
UNREAD_FIELDS = ("content_text", "ocr_text", "search_vector", "search_head")


def file_get_for_actor(*, membership: Membership, file_id, perm: str = "view", renditions: bool = True) -> File:
    """Fetch and authorise in one call: 404 when invisible, 403 when visible but not allowed.
    `renditions=False` leaves out the prefetch of the renditions its answer links to."""
    return _file_get(_files(renditions=renditions), membership=membership, file_id=file_id, perm=perm)


def file_get_for_redirect(*, membership: Membership, file_id) -> File:
    """A file the member may see, with its current version and blob only: what a download or a
    rendition's redirect reads. Without the owner's and folder's joins the lookup costs the
    database half the planning, and Python two rows fewer to build."""
    files = _files(renditions=False, related=("current_version__blob",))
    return _file_get(files, membership=membership, file_id=file_id, perm="view")


def _file_get(files: QuerySet[File], *, membership: Membership, file_id, perm: str) -> File:
    found = visible_files(files.filter(pk=parse_id(file_id, "File")), membership=membership)
    file = one_or_none(found)
    if file is None:
        raise NotFound("File not found.")
    file.tenant = membership.tenant  # loaded with the membership: audit records need no query for it
    if perm != "view" and not can_change_file(membership=membership, file=file, perm=perm):
        raise Forbidden(f"You may not {perm} this file.")
    return file


def ocr_pages(*, file: File, after: int = 0, limit: int | None = None) -> list[OcrPage]:
    """The pages OCR read text on in the file's current version, after page `after`, in order."""
    pages = OcrPage.objects.filter(tenant_id=file.tenant_id, version_id=file.current_version_id, number__gt=after)
    return list(pages.order_by("number")[:limit])


def ocr_page_count(*, file: File) -> int:
    return OcrPage.objects.filter(tenant_id=file.tenant_id, version_id=file.current_version_id).count()


def _parse_date(value: str, name: str, *, utc: bool = False) -> datetime:
    """An ISO 8601 date or date-time, aware; `utc` converts it (PostgreSQL takes offsets up to
    15:59, Python up to 23:59), which for a moment at the edge of time may not exist."""
    try:
        # Both return None for what is not a date, and raise for an impossible one (2024-13-45).
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            parsed = None if day is None else datetime(day.year, day.month, day.day)
        if parsed is not None:
            parsed = parsed if parsed.tzinfo else make_aware(parsed)
            parsed = parsed.astimezone(UTC) if utc else parsed
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None:
        raise ValidationFailed(f"{name} must be an ISO 8601 date or date-time.", code="invalid_filter")
    return parsed


def file_list(*, membership: Membership, filters: dict, folders: bool = True) -> QuerySet[File]:
    """Visible live files, filtered by folder, type, tags, status, uploader and dates.
    `folders=False` leaves out each file's folder row, for answers that show its id only."""
    files = visible_files(_files(related=FILE_RELATED if folders else WITHOUT_FOLDER), membership=membership)
    folder, subtree = filters.get("folder"), query_flag(filters, "subtree")
    if folder in ("root", "null"):
        files = files.filter(folder__isnull=True)
    elif folder:
        target = folder_get(membership=membership, folder_id=folder)
        if subtree:
            files = files.filter(folder__path__startswith=target.path)
        else:
            files = files.filter(folder=target)
    if filters.get("type"):
        group = TYPE_GROUPS.get(filters["type"])
        if group is None:
            raise ValidationFailed(f"type must be one of {', '.join(TYPE_GROUPS)}.", code="invalid_filter")
        files = files.filter(group)
    if filters.get("content_type"):
        files = files.filter(content_type=filters["content_type"])
    for tag in filters.get("tag") or []:
        files = files.filter(tags__contains=[tag.strip().lower()])
    for label in filters.get("label") or []:
        # jsonb containment: some label object in the list has this name.
        files = files.filter(labels__contains=[{"name": label.strip().lower()}])
    if filters.get("status"):
        if filters["status"] not in FileStatus.values:
            raise ValidationFailed(f"status must be one of {', '.join(FileStatus.values)}.", code="invalid_filter")
        files = files.filter(status=filters["status"])
    if filters.get("integrity"):
        files = files.filter(_integrity(membership, filters["integrity"]))
    uploader = filters.get("uploaded_by") or filters.get("owner")
    if uploader:
        files = (
            files.filter(owner_id=parse_id(uploader, "User"))
            if "-" in str(uploader)
            else files.filter(owner__username=uploader)
        )
    if filters.get("created_after"):
        files = files.filter(created_at__gte=_parse_date(filters["created_after"], "created_after", utc=True))
    if filters.get("created_before"):
        files = files.filter(created_at__lt=_parse_date(filters["created_before"], "created_before", utc=True))
    # Capture times are ISO 8601 strings in metadata, so they compare correctly as text.
    if filters.get("taken_after"):
        files = files.filter(
            metadata__taken_at__gte=_parse_date(filters["taken_after"], "taken_after").isoformat()[:19]
        )
    if filters.get("taken_before"):
        files = files.filter(
            metadata__taken_at__lt=_parse_date(filters["taken_before"], "taken_before").isoformat()[:19]
        )
    if filters.get("year"):
        files = files.filter(_in_year(filters["year"]))
    for bound, lookup in (("size_min", "size__gte"), ("size_max", "size__lte")):
        if filters.get(bound):
            try:
                files = files.filter(**{lookup: int(filters[bound])})
            except ValueError:
                raise ValidationFailed(f"{bound} must be a number of bytes.", code="invalid_filter") from None
    return files


def _integrity(membership: Membership, value: str) -> Q:
    """`integrity=lost`: files whose current bytes have no intact copy left (the scrub flagged
    them); for owners and admins, who are the ones to act on it."""
    if value != "lost":
        raise ValidationFailed("integrity must be lost.", code="invalid_filter")
    if not can_list_integrity_lost(membership=membership):
        raise Forbidden("Only owners and admins may list files whose bytes are lost.")
    return Q(current_version__blob__integrity_lost_at__isnull=False)


def _in_year(value: str) -> Q:
    """The search's `year` facet as a filter: the capture year when the file states one, else
    the upload year (files.search.postgres.facets)."""
    if not (len(str(value)) == 4 and str(value).isdigit() and str(value)[0] != "0"):
        raise ValidationFailed("year must be four digits, 1000 to 9999.", code="invalid_filter")
    no_capture_time = Q(metadata__taken_at__isnull=True) | Q(metadata__taken_at=None) | Q(metadata__taken_at="")
    return Q(metadata__taken_at__startswith=value) | (no_capture_time & Q(created_at__year=int(value)))


# --- Browsing a folder --------------------------------------------------------------

# The keys a folder can be sorted by. Each, with the id as tie-breaker, has an index that
# leads with (tenant, folder) and holds only live files (migration 0015; the name's is the
# unique constraint's), so a page is an index range scan wherever the cursor points.
BROWSE_SORTS = {"name": Lower("name"), "modified": F("updated_at"), "size": F("size"), "type": F("content_type")}
# Bounds of what the folder tree shows at once: children of one folder, and in all.
TREE_CHILDREN_LIMIT = 200


def thumbnail_renditions() -> Prefetch:
    """A file's thumbnails in both formats (WebP for <source>, JPEG for the <img> fallback),
    for `prefetch_related`: one query per page, kept as `blob.thumbnails`."""
    return Prefetch(
        "current_version__blob__renditions",
        queryset=Rendition.objects.filter(kind=RenditionKind.THUMBNAIL).only(
            "blob_id", "kind", "format", "storage_key"
        ),
        to_attr="thumbnails",
    )


# What a tile or a row shows: building model instances of 50 files with their owner, version
# and blob in full was a fifth of the page's time (bench/portal.py).
BROWSE_FIELDS = (
    "id", "tenant_id", "folder_id", "name", "size", "content_type", "status", "error", "updated_at", "tags",
    "owner__username", "current_version__id", "current_version__blob__id", "current_version__blob__tier",
)  # fmt: skip


def _browse_files() -> QuerySet[File]:
    return (
        File.objects.select_related("owner", "current_version__blob")
        .prefetch_related(thumbnail_renditions())
        .only(*BROWSE_FIELDS)
    )


def file_browse_page(
    *,
    membership: Membership,
    folder: Folder | None,
    sort: str,
    descending: bool,
    after: tuple | None,
    limit: int,
    visible: QuerySet | None = None,
) -> list[File]:
    """One page of the visible live files directly in `folder` (the root when None), ordered
    by `sort` then id; `after` is the (key, id) of the previous page's last file (keyset).
    `visible`: the member's `file_ids_visible_to`, when the caller has it already."""
    visible = file_ids_visible_to(membership=membership) if visible is None else visible
    files = (
        _browse_files()
        .filter(tenant_id=membership.tenant_id, folder=folder, deleted_at__isnull=True)
        .filter(id__in=visible)
        .annotate(sort_key=BROWSE_SORTS[sort])
    )
    if after is not None:
        key, last_id = after
        # The redundant `key >=` (or `<=`) is what the index can seek to; the OR alone it cannot.
        if descending:
            files = files.filter(sort_key__lte=key).filter(Q(sort_key__lt=key) | Q(sort_key=key, id__lt=last_id))
        else:
            files = files.filter(sort_key__gte=key).filter(Q(sort_key__gt=key) | Q(sort_key=key, id__gt=last_id))
    order = ("-sort_key", "-id") if descending else ("sort_key", "id")
    return list(files.order_by(*order)[:limit])


def file_browse_count(*, membership: Membership, folder: Folder | None) -> int:
    """How many visible live files are directly in `folder`: what "select all" acts on."""
    return (
        File.objects.filter(tenant_id=membership.tenant_id, folder=folder, deleted_at__isnull=True)
        .filter(id__in=file_ids_visible_to(membership=membership))
        .count()
    )


def file_browse_items(*, membership: Membership, ids: list) -> list[File]:
    """The visible live files among `ids`, as a browse page shows them (the live status)."""
    return list(
        _browse_files()
        .filter(
            tenant_id=membership.tenant_id,
            id__in=[parse_id(pk, "File") for pk in ids],
            deleted_at__isnull=True,
        )
        .filter(id__in=file_ids_visible_to(membership=membership))
    )


def folder_ancestors(*, folder: Folder) -> list[Folder]:
    """The folder and those above it, from the top: one query by path, whatever the depth."""
    paths = [folder.path[: i + 1] for i, char in enumerate(folder.path) if char == "/" and i > 0]
    folders = Folder.objects.filter(tenant_id=folder.tenant_id, path__in=paths, deleted_at__isnull=True)
    return sorted(folders, key=lambda f: len(f.path))


def folder_tree(*, membership: Membership, parent_ids: list) -> list[Folder]:
    """Live children of the given folders (None: the root), each marked `has_children`, in
    name order; one query, bounded by TREE_CHILDREN_LIMIT per parent asked for."""
    ids = [pk for pk in parent_ids if pk is not None]
    parents = Q(parent_id__in=ids) | (Q(parent__isnull=True) if None in parent_ids else Q(pk__in=[]))
    children = Folder.objects.filter(parent=OuterRef("pk"), deleted_at__isnull=True)
    return list(
        Folder.objects.filter(parents, tenant_id=membership.tenant_id, deleted_at__isnull=True)
        .annotate(has_children=Exists(children))
        .order_by(Lower("name"), "id")[: TREE_CHILDREN_LIMIT * max(len(parent_ids), 1)]
    )


def version_list(*, file: File) -> QuerySet[FileVersion]:
    return FileVersion.objects.filter(tenant_id=file.tenant_id, file=file).select_related("blob", "uploaded_by")


def version_get(*, file: File, number: int) -> FileVersion:
    version = version_list(file=file).filter(number=number).first()
    if version is None:
        raise NotFound("Version not found.")
    return version


def file_renditions(*, file: File) -> list[Rendition]:
    """Every rendition of the file's current version, both formats: the file page offers
    JPEG fallbacks beside the WebP ones that lists prefetch (one query)."""
    if file.current_version_id is None:
        return []
    return list(
        Rendition.objects.filter(tenant_id=file.tenant_id, blob_id=file.current_version.blob_id).exclude(
            kind=RenditionKind.SEARCHABLE
        )
    )


def searchable_rendition(*, file: File) -> Rendition | None:
    """The searchable copy of the current version (a scanned PDF with OCR's text laid in)."""
    if file.current_version_id is None:
        return None
    return Rendition.objects.filter(
        tenant_id=file.tenant_id, blob_id=file.current_version.blob_id, kind=RenditionKind.SEARCHABLE
    ).first()


def folder_choices(*, membership: Membership, limit: int = 1000) -> list[tuple[str, str]]:
    """(id, path) of the tenant's live folders by path, for a move target picker (bounded)."""
    folders = Folder.objects.filter(tenant_id=membership.tenant_id, deleted_at__isnull=True).order_by("path")
    return [(str(pk), path) for pk, path in folders.values_list("pk", "path")[:limit]]


# --- Trash ------------------------------------------------------------------------


def trash_files(*, membership: Membership) -> QuerySet[File]:
    """Files trashed on their own (not as part of a folder) that the member may restore."""
    files = File.objects.filter(tenant_id=membership.tenant_id, deleted_at__isnull=False, trashed_via__isnull=True)
    return trash_files_visible(membership=membership, files=files)


def trash_folders(*, membership: Membership) -> QuerySet[Folder]:
    folders = Folder.objects.filter(tenant_id=membership.tenant_id, deleted_at__isnull=False, trashed_via__isnull=True)
    return trash_folders_visible(membership=membership, folders=folders)


def public_file_get(*, file_id) -> File:
    """A live file anyone may see because its visibility is `public`; 404 otherwise."""
    file = (
        File.objects.select_related("tenant", "current_version__blob")
        .prefetch_related(webp_renditions())
        .filter(publicly_visible(), pk=parse_id(file_id, "File"), current_version__isnull=False)
        .first()
    )
    if file is None:
        raise NotFound("Not found.")
    return file


def rendition_get(*, file: File, kind: str, fmt: str = "webp") -> Rendition:
    found = Rendition.objects.filter(blob_id=file.current_version.blob_id, kind=kind, format=fmt)
    rendition = one_or_none(found)
    if rendition is None:
        raise NotFound("This file has no such rendition (yet).")
    return rendition
