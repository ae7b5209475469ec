"""ZIP and OLE2 containers read within fixed bounds, for checks on uploads in web processes.

`zipfile` and `olefile` load a container's whole directory and `zipfile` inflates a member in
one call for some methods, so a small upload can cost gigabytes. Here every read is small and
counted: a directory is walked an entry at a time up to a limit, and a member is never
decompressed beyond the few bytes asked for.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO


class ContainerError(Exception):
    """A container that is damaged, or larger or stranger than any file we accept; the
    message says which, for a person."""


# --- ZIP ------------------------------------------------------------------------------------

ZIP_STORED, ZIP_DEFLATED = 0, 8
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
# A comment may follow the end record: it is searched for in this many bytes from the end.
_EOCD_SEARCH = _EOCD.size + 0xFFFF
# Longer names are no part name we look for; they are skipped, not read.
_MAX_NAME_BYTES = 1024


@dataclass(frozen=True)
class ZipEntry:
    name: str
    method: int
    flags: int
    compressed_size: int
    size: int
    header_offset: int


def _read_exactly(file: BinaryIO, offset: int, size: int) -> bytes:
    file.seek(offset)
    data = file.read(size)
    if len(data) != size:
        raise ContainerError("The archive is damaged: it ends before its directory does.")
    return data


def _file_size(file: BinaryIO) -> int:
    return file.seek(0, 2)


def _end_of_directory(file: BinaryIO) -> tuple[int, int, int, int]:
    """(entries, directory size, directory offset, offset of the end record) from the archive's end."""
    end = _file_size(file)
    start = max(0, end - _EOCD_SEARCH)
    tail = _read_exactly(file, start, end - start)
    position = tail.rfind(b"PK\x05\x06")
    if position < 0 or len(tail) - position < _EOCD.size:
        raise ContainerError("The archive is damaged: its directory cannot be found.")
    _sig, _disk, _cd_disk, _disk_entries, entries, cd_size, cd_offset, _comment = _EOCD.unpack_from(tail, position)
    record = start + position
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        # The ZIP64 end record sits just before its locator, which sits just before this one.
        locator_at = position - _EOCD64_LOCATOR.size
        if locator_at < 0 or tail[locator_at : locator_at + 4] != b"PK\x06\x07":
            raise ContainerError("The archive is damaged: its ZIP64 directory cannot be found.")
        record = start + locator_at - _EOCD64.size
        fields = _EOCD64.unpack(_read_exactly(file, max(record, 0), _EOCD64.size))
        if record < 0 or fields[0] != b"PK\x06\x06":
            raise ContainerError("The archive is damaged: its ZIP64 directory cannot be found.")
        entries, cd_size, cd_offset = fields[7], fields[8], fields[9]
    return entries, cd_size, cd_offset, record


def zip_entries(file: BinaryIO, *, max_entries: int) -> Iterator[ZipEntry]:
    """The archive's members from its central directory, one at a time.

    Raises ContainerError for a damaged directory, or one of more than `max_entries` members
    (checked as declared and as walked: the count in the end record is the attacker's too).
    """
    entries, cd_size, cd_offset, record = _end_of_directory(file)
    if entries > max_entries:
        raise ContainerError(f"The archive holds {entries:,} members, more than any document has.")
    # Data before the archive proper (a self-extractor's stub) shifts every offset by as much.
    shift = record - cd_size - cd_offset
    if shift < 0:
        raise ContainerError("The archive is damaged: its directory lies outside the file.")
    position, end, walked = cd_offset + shift, cd_offset + shift + cd_size, 0
    while position + _CENTRAL.size <= end:
        walked += 1
        if walked > max_entries:
            raise ContainerError(f"The archive holds more than {max_entries:,} members, more than any document has.")
        entry, position = _central_entry(file, position, shift)
        yield entry


def _central_entry(file: BinaryIO, position: int, shift: int) -> tuple[ZipEntry, int]:
    fields = _CENTRAL.unpack(_read_exactly(file, position, _CENTRAL.size))
    if fields[0] != b"PK\x01\x02":
        raise ContainerError("The archive is damaged: an entry of its directory is unreadable.")
    flags, method = fields[5], fields[6]
    compressed, size, name_length, extra_length, comment_length = fields[10:15]
    offset = fields[18]
    name_at = position + _CENTRAL.size
    raw_name = b"" if name_length > _MAX_NAME_BYTES else _read_exactly(file, name_at, name_length)
    if 0xFFFFFFFF in (compressed, size, offset) and extra_length:
        extra = _read_exactly(file, name_at + name_length, extra_length)
        compressed, size, offset = _zip64_sizes(extra, compressed, size, offset)
    name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
    entry = ZipEntry(name, method, flags, compressed, size, offset + shift)
    return entry, name_at + name_length + extra_length + comment_length


def _zip64_sizes(extra: bytes, compressed: int, size: int, offset: int) -> tuple[int, int, int]:
    """The sizes and offset a ZIP64 extra field holds for those of the entry that overflowed."""
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack_from("<2H", extra, position)
        body = extra[position + 4 : position + 4 + length]
        position += 4 + length
        if kind != 1:
            continue
        values = [value for (value,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
        if size == 0xFFFFFFFF and values:
            size = values.pop(0)
        if compressed == 0xFFFFFFFF and values:
            compressed = values.pop(0)
        if offset == 0xFFFFFFFF and values:
            offset = values.pop(0)
    return compressed, size, offset


def zip_member_head(file: BinaryIO, entry: ZipEntry, limit: int) -> bytes:
    """At most `limit` bytes from the start of a stored or deflated member, decompressing no
    more than that. Raises ContainerError for other methods, encryption or damage."""
    if entry.flags & 0x1:
        raise ContainerError(f"Member {entry.name} of the archive is encrypted.")
    if entry.method not in (ZIP_STORED, ZIP_DEFLATED):
        raise ContainerError(f"Member {entry.name} is compressed with a method documents never use.")
    header = _LOCAL.unpack(_read_exactly(file, entry.header_offset, _LOCAL.size))
    if header[0] != b"PK\x03\x04":
        raise ContainerError("The archive is damaged: a member's header is missing.")
    data_at = entry.header_offset + _LOCAL.size + header[10] + header[11]
    if entry.method == ZIP_STORED:
        return _read_exactly(file, data_at, min(entry.compressed_size, entry.size, limit))
    # Deflate expands at most about 1000:1, so this much input is ample for `limit` bytes out.
    compressed = _read_exactly(file, data_at, min(entry.compressed_size, 4 * limit + 64))
    try:
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(compressed, limit)
    except zlib.error:
        raise ContainerError(f"Member {entry.name} of the archive is damaged.") from None


# --- OLE2 (legacy Office) --------------------------------------------------------------------

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAX_REGULAR_SECTOR = 0xFFFFFFF9  # above: free, end of chain, FAT and DIFAT markers
_NO_STREAM = 0xFFFFFFFF
_DIRECTORY_ENTRY = 128
_HEADER_DIFAT = 109
_STREAM, _ROOT = 2, 5


class _Ole:
    """An OLE2 compound file's sectors, FAT and directory, each read only where asked, and
    never more than `max_sectors` sectors of a chain (the directory's, the DIFAT's)."""

    def __init__(self, file: BinaryIO, max_sectors: int) -> None:
        header = _read_exactly(file, 0, 512)
        if header[:8] != OLE_MAGIC or header[0x1C:0x1E] != b"\xfe\xff":
            raise ContainerError("This Office file is damaged: its header is not an OLE2 header.")
        shift = struct.unpack_from("<H", header, 0x1E)[0]
        if shift not in (9, 12):
            raise ContainerError("This Office file is damaged: its sector size is invalid.")
        self.file, self.sector_size, self.max_sectors = file, 1 << shift, max_sectors
        self.file_size = _file_size(file)
        first_directory = struct.unpack_from("<L", header, 0x30)[0]
        self.first_difat, self.difat_count = struct.unpack_from("<2L", header, 0x44)
        self.header_difat = struct.unpack_from(f"<{_HEADER_DIFAT}L", header, 0x4C)
        self.difat_chain: list[int] = []
        self.directory_chain, self.directory_seen = [first_directory], {first_directory}

    def _read(self, sector: int, offset: int, size: int) -> bytes:
        at = (sector + 1) * self.sector_size + offset
        if sector > _MAX_REGULAR_SECTOR or at + size > self.file_size:
            raise ContainerError("This Office file is damaged: a sector lies outside the file.")
        return _read_exactly(self.file, at, size)

    def _fat_sector(self, index: int) -> int:
        """Where the `index`th sector of the FAT is: in the header, or in the DIFAT chain."""
        if index < _HEADER_DIFAT:
            return self.header_difat[index]
        per_sector = self.sector_size // 4 - 1  # the last entry links to the next DIFAT sector
        hop, slot = divmod(index - _HEADER_DIFAT, per_sector)
        if hop >= min(self.difat_count, self.max_sectors):
            raise ContainerError("This Office file is damaged: its sector table is incomplete.")
        while len(self.difat_chain) <= hop:
            previous = self.difat_chain[-1] if self.difat_chain else None
            following = self.first_difat if previous is None else self._entry(previous, per_sector)
            self.difat_chain.append(following)
        return self._entry(self.difat_chain[hop], slot)

    def _entry(self, sector: int, slot: int) -> int:
        return struct.unpack("<L", self._read(sector, slot * 4, 4))[0]

    def _next(self, sector: int) -> int:
        index, slot = divmod(sector, self.sector_size // 4)
        return self._entry(self._fat_sector(index), slot)

    def directory_entry(self, entry_id: int) -> bytes:
        index, slot = divmod(entry_id, self.sector_size // _DIRECTORY_ENTRY)
        if index >= self.max_sectors:
            raise ContainerError("This Office file's directory is larger than any document's.")
        while len(self.directory_chain) <= index:
            following = self._next(self.directory_chain[-1])
            if following > _MAX_REGULAR_SECTOR or following in self.directory_seen:
                raise ContainerError("This Office file is damaged: its directory is broken.")
            self.directory_chain.append(following)
            self.directory_seen.add(following)
        return self._read(self.directory_chain[index], slot * _DIRECTORY_ENTRY, _DIRECTORY_ENTRY)


def ole_root_streams(file: BinaryIO, *, max_entries: int, max_sectors: int) -> set[str]:
    """The names (lower case) of the streams at the top of an OLE2 file, such as `worddocument`.

    The directory tree is walked from the root entry, visiting at most `max_entries` entries
    and following at most `max_sectors` sectors of the directory and of the FAT.
    """
    ole = _Ole(file, max_sectors)
    root = ole.directory_entry(0)
    if root[0x42] != _ROOT:
        raise ContainerError("This Office file is damaged: its directory has no root.")
    names: set[str] = set()
    pending, seen = [struct.unpack_from("<L", root, 0x4C)[0]], set()
    while pending:
        entry_id = pending.pop()
        if entry_id == _NO_STREAM or entry_id in seen:
            continue
        seen.add(entry_id)
        if len(seen) > max_entries:
            raise ContainerError("This Office file's directory is larger than any document's.")
        entry = ole.directory_entry(entry_id)
        name_length = min(struct.unpack_from("<H", entry, 0x40)[0], 64)
        if entry[0x42] == _STREAM:
            names.add(entry[: max(name_length - 2, 0)].decode("utf-16-le", "replace").lower())
        pending.extend(struct.unpack_from("<2L", entry, 0x44))  # the left and right siblings
    return names
