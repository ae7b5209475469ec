"""The domain events files publish (mediaportal.events): what a webhook hears about a file."""

from __future__ import annotations

from typing import Any

from files.models import File
from mediaportal.events import event_publish


def file_event_data(file: File) -> dict[str, Any]:
    """The file as a webhook receives it: id, name, folder path, type and size."""
    return {
        "file": str(file.pk),
        "name": file.name,
        "folder": file.folder.display_path if file.folder_id else "/",
        "content_type": file.content_type,
        "size": file.size,
    }


def file_event_publish(*, event: str, file: File, **extra: Any) -> None:
    """Publish `event` about `file` once the current transaction commits."""
    event_publish(tenant_id=file.tenant_id, event=event, data={**file_event_data(file), **extra})


def files_event_publish(*, event: str, files, **extra: Any) -> None:
    """The same event about each of `files` (select_related("folder") spares a query each)."""
    for file in files:
        file_event_publish(event=event, file=file, **extra)
