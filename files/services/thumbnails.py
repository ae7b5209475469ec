"""Signed addresses of the thumbnails a browse page shows."""

from __future__ import annotations

from files import storage
from files.models import File, FileStatus


def thumbnail_urls(*, file: File) -> dict[str, str]:
    """{"webp": url, "jpeg": url} of the current version's thumbnails, from the rows
    `files.selectors.file_browse_page` prefetched (`thumbnails`); empty until processed."""
    if file.status != FileStatus.COMPLETED or file.current_version is None:
        return {}
    stem = file.name.rsplit(".", 1)[0]
    return {
        r.format: storage.presigned_get(
            key=r.storage_key, filename=f"{stem} (thumbnail).{r.format}", content_type=f"image/{r.format}", inline=True
        )
        for r in getattr(file.current_version.blob, "thumbnails", [])
    }
