"""A ZIP of many S3 objects, produced while it is sent: memory stays flat whatever the size.

zipfile can write to a stream it cannot seek (it then puts sizes in data descriptors after
each member); we hand it a sink that collects what it writes and yield that as we go.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

from files.names import numbered_name
from files.storage.failover import object_open_first


class _Sink:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def _unique(name: str, taken: set[str]) -> str:
    """`name`, numbered when the archive already holds it: files picked from several folders
    may share a name, and unzipping would let the later overwrite the earlier."""
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = numbered_name(name, n)
    taken.add(candidate.lower())
    return candidate


def _chunks(blob) -> Iterator[bytes]:
    """The blob's bytes, from the replica copy when the primary lacks them or is down."""
    roles = ("primary", "replica") if blob.replicated_at else ("primary",)
    found = object_open_first(blob.storage_key, roles)
    if found is None:
        raise FileNotFoundError(blob.storage_key)  # in no bucket: the ZIP can only break off
    return found[0].chunks


def zip_stream(folder, files) -> Iterator[bytes]:
    """Yield the ZIP of `files`, paths relative to `folder` (flat names when `folder` is None);
    images and PDFs are stored, not deflated."""
    sink = _Sink()
    taken: set[str] = set()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for file in files:
            relative = file.folder.path[len(folder.path) :] if folder is not None and file.folder else ""
            info = zipfile.ZipInfo(_unique(relative + file.name, taken), date_time=file.created_at.timetuple()[:6])
            with archive.open(info, mode="w", force_zip64=file.size > 2**31) as member:
                for chunk in _chunks(file.current_version.blob):
                    member.write(chunk)
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()
