"""Similar images: fingerprints stored at processing, near neighbours, duplicate groups.

A search looks up the candidates sharing a 16-bit band (or one within one bit of it) with
the file's pHash or dHash: two hashes within distance 7 always share one (pigeonhole over
four bands), and each probe is an index range of a few rows even among a million
fingerprints. The candidates' full distances are checked in PostgreSQL, their kind in
Python (files.processing.similar.kind_of). Only files the member may see are answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.models import Membership
from files.models import BAND_COLUMNS, Blob, File, ImageFingerprint
from files.permissions import visible_files
from files.processing.similar import (
    BAND_BITS,
    EDIT_DISTANCE_SUM,
    EDIT_MAX_DISTANCE,
    EXACT,
    Fingerprint,
    best_key,
    hamming,
    kind_of,
)
from files.processing.similar import bands as hash_bands
from files.selectors import file_get_for_actor

# Candidates checked per search: far more than one picture's copies, and a bound on the work
# when a band value is common (flat or blank pictures).
MAX_CANDIDATES = 500
# The group lock's namespace (pg_advisory_xact_lock's first key), beside services.locks'.
GROUP_LOCK = 0x51D1


@dataclass(frozen=True)
class Match:
    file: File
    distance: int
    kind: str
    best: bool


# --- Recording ----------------------------------------------------------------------


def _probes(value: int) -> list[int]:
    """The band value and its 16 neighbours one bit away."""
    return [value, *(value ^ (1 << bit) for bit in range(BAND_BITS))]


def _band_values(phash: int, dhash: int) -> dict[str, int]:
    return dict(zip(BAND_COLUMNS, (*hash_bands(phash), *hash_bands(dhash)), strict=True))


def fingerprint_record(*, blob: Blob, fingerprint: Fingerprint) -> ImageFingerprint:
    """Store the blob's fingerprint (again: processing may run twice) and put it in the group
    of the pictures it is similar to, merging their groups if it joins several."""
    fields = {
        "tenant_id": blob.tenant_id,
        "phash": fingerprint.phash,
        "dhash": fingerprint.dhash,
        "colour": fingerprint.colour,
        "grid": fingerprint.grid,
        "width": fingerprint.width,
        "height": fingerprint.height,
        "format": fingerprint.format[:16],
        "quality": fingerprint.quality,
        "has_exif": fingerprint.has_exif,
        **_band_values(fingerprint.phash, fingerprint.dhash),
    }
    with transaction.atomic():
        # One writer at a time per tenant: two similar pictures processed together would each
        # miss the other and start two groups.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [GROUP_LOCK, str(blob.tenant_id)])
        row, _created = ImageFingerprint.objects.update_or_create(blob=blob, defaults=fields)
        groups = {n.group_id for n, _kind in _neighbours(row, size=blob.size) if n.group_id is not None}
        group = min(groups | {row.pk})
        if groups - {group}:
            ImageFingerprint.objects.filter(tenant_id=row.tenant_id, group_id__in=groups - {group}).update(
                group_id=group
            )
        if row.group_id != group:
            row.group_id = group
            row.save(update_fields=["group_id"])
    return row


# --- Reading ------------------------------------------------------------------------


def as_fingerprint(row: ImageFingerprint, *, size: int) -> Fingerprint:
    return Fingerprint(
        phash=row.phash,
        dhash=row.dhash,
        colour=row.colour,
        grid=bytes(row.grid),
        width=row.width,
        height=row.height,
        format=row.format,
        quality=row.quality,
        has_exif=row.has_exif,
        size=size,
    )


def _xor_count(column: str, value: int) -> RawSQL:
    return RawSQL(f"bit_count(({column} # %s)::bit(64))", (value,))  # noqa: S611 - column is ours


def _candidates(row: ImageFingerprint) -> QuerySet[ImageFingerprint]:
    """Fingerprints in the tenant sharing a band within one bit, and near enough in full."""
    probes = Q()
    for column, value in _band_values(row.phash, row.dhash).items():
        probes |= Q(**{f"{column}__in": _probes(value)})
    return (
        ImageFingerprint.objects.filter(probes, tenant_id=row.tenant_id)
        .exclude(pk=row.pk)
        .annotate(p=_xor_count("phash", row.phash), d=_xor_count("dhash", row.dhash))
        .filter(p__lte=EDIT_MAX_DISTANCE, d__lte=EDIT_MAX_DISTANCE)
        .select_related("blob")
        .order_by("p", "d")[:MAX_CANDIDATES]
    )


def _neighbours(row: ImageFingerprint, *, size: int) -> list[tuple[ImageFingerprint, str]]:
    """(fingerprint, kind) of every picture in the tenant similar to `row`'s."""
    mine = as_fingerprint(row, size=size)
    found = []
    for other in _candidates(row):
        if other.p + other.d > EDIT_DISTANCE_SUM:
            continue
        kind = kind_of(mine, as_fingerprint(other, size=other.blob.size))
        if kind is not None:
            found.append((other, kind))
    return found


def _live_files(membership: Membership) -> QuerySet[File]:
    return visible_files(File.objects.all(), membership=membership)


def file_similar(*, membership: Membership, file_id) -> tuple[list[Match], File | None]:
    """The files the member may see that hold the same picture as `file_id` (404 if they may
    not see that file), closest first, and the best copy among all of them and the file."""
    file = file_get_for_actor(membership=membership, file_id=file_id, renditions=False)
    blob_id = file.current_version.blob_id if file.current_version else None
    row = ImageFingerprint.objects.filter(blob_id=blob_id).first() if blob_id else None
    related: dict[int, tuple[int, str, Fingerprint | None]] = {}  # blob id → distance, kind, fingerprint
    if blob_id:
        related[blob_id] = (0, EXACT, as_fingerprint(row, size=file.size) if row else None)
    if row is not None:
        for other, kind in _neighbours(row, size=file.size):
            related[other.blob_id] = (other.p, kind, as_fingerprint(other, size=other.blob.size))
    if not related:
        return [], None
    files = list(
        _live_files(membership)
        .filter(current_version__blob_id__in=related)
        .exclude(pk=file.pk)
        .select_related("current_version")
    )
    best = _best(file, related, files) if row is not None else None
    matches = [
        Match(file=other, distance=related[bid][0], kind=related[bid][1], best=best is not None and other.pk == best.pk)
        for other in files
        for bid in [other.current_version.blob_id]
    ]
    matches.sort(key=lambda m: (m.distance, m.kind != EXACT, m.file.name, str(m.file.pk)))
    return matches, best


def _best(file: File, related: dict, files: list[File]) -> File:
    """The best copy: largest picture, least compressed, with metadata (files.processing.similar.best_key);
    among copies of the same bytes, the oldest file."""

    def key(candidate: File):
        fingerprint = related[candidate.current_version.blob_id][2]
        return (best_key(fingerprint) if fingerprint else (0,), -candidate.created_at.timestamp())

    return max([file, *files], key=key)


# --- Duplicate groups ---------------------------------------------------------------

GROUP = "current_version__blob__fingerprint__group_id"


@dataclass(frozen=True)
class Member:
    file: File
    kind: str | None  # relative to the best copy; None for the best copy itself
    distance: int
    fingerprint: Fingerprint


@dataclass(frozen=True)
class DuplicateGroup:
    id: int
    members: list[Member]
    best: File


def duplicate_groups(*, membership: Membership, limit: int, after: int | None = None) -> tuple[list, int | None]:
    """Groups of files holding the same picture, among the files the member may see, in group
    order from after `after`; returns the groups and the cursor of the next page (or None)."""
    keys = (
        _live_files(membership)
        .filter(**{f"{GROUP}__isnull": False}, **({f"{GROUP}__gt": after} if after is not None else {}))
        .values(GROUP)
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by(GROUP)
        .values_list(GROUP, flat=True)[: limit + 1]
    )
    keys = list(keys)
    more = len(keys) > limit
    keys = keys[:limit]
    files = (
        _live_files(membership)
        .filter(**{f"{GROUP}__in": keys})
        .select_related("current_version__blob__fingerprint")
        .order_by("created_at", "id")
    )
    by_group: dict[int, list[File]] = {}
    for file in files:
        by_group.setdefault(file.current_version.blob.fingerprint.group_id, []).append(file)
    groups = [group for key in keys for group in _clusters(key, by_group.get(key, []))]
    return groups, (keys[-1] if more else None)


def _clusters(key: int, files: list[File]) -> list[DuplicateGroup]:
    """The group's files split around best copies: a group joined through a chain of similar
    pictures may hold two that are not alike, and every member shown is like its best copy."""
    remaining = [(f, as_fingerprint(f.current_version.blob.fingerprint, size=f.size)) for f in files]
    clusters = []
    while len(remaining) > 1:
        best, best_fp = max(remaining, key=lambda item: (best_key(item[1]), -item[0].created_at.timestamp()))
        members, rest = [Member(best, None, 0, best_fp)], []
        for file, fp in remaining:
            if file is best:
                continue
            same = file.current_version.blob_id == best.current_version.blob_id
            kind = kind_of(best_fp, fp, same_bytes=same)
            if kind is None:
                rest.append((file, fp))
            else:
                members.append(Member(file, kind, hamming(best_fp.phash, fp.phash), fp))
        if len(members) > 1:
            clusters.append(DuplicateGroup(id=key, members=members, best=best))
        remaining = rest
    return clusters
