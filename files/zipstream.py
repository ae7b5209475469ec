"""ZIP archives of S3 objects, written while they are sent: memory stays flat whatever the size.

zipfile can write to a stream it cannot seek (it then puts sizes in data descriptors after
each member): `zip_stream` hands it a sink that collects what it writes and yields that as
it goes (a download), a tenant export hands it an S3 multipart upload
(files.storage.streaming). Both name and write members with the helpers here.
"""

from __future__ import annotations

import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime

from files.names import numbered_name
from files.storage.failover import object_open_first

# Members as large as this (or larger) need ZIP64 headers, which zipfile must be told of
# before it writes the member's first byte.
ZIP64_MEMBER_BYTES = zipfile.ZIP64_LIMIT
# The earliest date a ZIP header can hold.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


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


def safe_name(name: str) -> str:
    """One path component that unzips as itself: no separators, no control characters, not
    `.` or `..` (names are cleaned when given, but rows may predate a rule)."""
    cleaned = "".join("_" if ch in "/\\" else ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cs"}).strip()
    return "_" if cleaned in {"", ".", ".."} else cleaned


def unique_name(directory: str, name: str, taken: set[str], *, kind: str = "file") -> str:
    """`directory + name`, with the name numbered while the archive already holds that path
    (compared without case, as Windows and macOS unzip): files picked from several folders
    may share a name, and unzipping would let the later overwrite the earlier."""
    candidate, n = directory + name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = directory + numbered_name(name, n, kind=kind)
    taken.add(candidate.lower())
    return candidate


def member_write(
    archive: zipfile.ZipFile,
    name: str,
    *,
    modified: datetime,
    size: int,
    chunks: Iterable[bytes],
    compress: bool = False,
) -> Iterator[None]:
    """Write one member from `chunks`, yielding after each (a caller streaming the archive
    sends what the archive's sink holds then). `size` is what the chunks add up to."""
    info = zipfile.ZipInfo(name, date_time=max(ZIP_EPOCH, modified.timetuple()[:6]))
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with archive.open(info, mode="w", force_zip64=size >= ZIP64_MEMBER_BYTES) as member:
        for chunk in chunks:
            member.write(chunk)
            yield


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
            chunks = _chunks(file.current_version.blob)
            name = unique_name(relative, file.name, taken)
            for _ in member_write(archive, name, modified=file.created_at, size=file.size, chunks=chunks):
                yield sink.drain()
            yield sink.drain()
    yield sink.drain()
