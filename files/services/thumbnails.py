"""Addresses of the thumbnails a browse page shows."""

from __future__ import annotations

from files import storage
from files.models import File, FileStatus


def thumbnail_formats(*, file: File) -> set[str]:
    """The formats of the current version's thumbnail, from the rows that
    `files.selectors.thumbnail_renditions` prefetched; empty until processed."""
    if file.status != FileStatus.COMPLETED or file.current_version is None:
        return set()
    return {r.format for r in getattr(file.current_version.blob, "thumbnails", [])}


def thumbnail_urls(*, file: File, formats: tuple[str, ...] = ("webp", "jpeg")) -> dict[str, str]:
    """{format: presigned URL} of the current version's thumbnails in `formats`."""
    if not thumbnail_formats(file=file):
        return {}
    stem = file.name.rsplit(".", 1)[0]
    return {
        r.format: storage.presigned_get(
            key=r.storage_key, filename=f"{stem} (thumbnail).{r.format}", content_type=f"image/{r.format}", inline=True
        )
        for r in file.current_version.blob.thumbnails
        if r.format in formats
    }
