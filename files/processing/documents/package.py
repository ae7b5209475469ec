"""ZIP-based office files (Office Open XML, OpenDocument) read without trusting the archive.

Parts are read against a budget of decompressed bytes, checked on the declared sizes before a
part is opened and counted while it is read; XML parts are streamed with defusedxml, and a DTD
or entity declaration is refused. Elements are counted against a limit per document, and only
those inside the element being read are kept.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from files.processing.errors import ProcessingError

# Deflate tops out near 1000:1 and real office XML compresses 5-20:1, so a large part far past 100:1 is
# built to expand, whatever its declared size says about the budget.
_ZIP_MAX_RATIO = 100
_ZIP_RATIO_MIN_BYTES = 10 * 1024**2
# Real packages have tens to a few thousand parts; zipfile holds the whole central directory in memory.
_ZIP_MAX_MEMBERS = 20_000
_READ_CHUNK = 64 * 1024
# Elements one paragraph, row or shared string may hold: Excel's widest row is 16,384 cells of
# two or three elements each; a Word paragraph of thousands of runs has tens of thousands.
MAX_KEPT_ELEMENTS = 200_000


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024**2:
        return f"{size / 1024:,.1f} KiB"
    return f"{size / 1024**2:,.1f} MiB"


class Package:
    """A ZIP-based office file, read within a budget of decompressed bytes."""

    def __init__(self, archive: zipfile.ZipFile, budget: int, *, max_elements: int) -> None:
        infos = archive.infolist()
        if len(infos) > _ZIP_MAX_MEMBERS:
            raise ProcessingError(
                "archive_bomb", f"The package holds {len(infos):,} members, far more than any office file."
            )
        for info in infos:
            if info.file_size >= _ZIP_RATIO_MIN_BYTES and info.file_size > _ZIP_MAX_RATIO * max(info.compress_size, 1):
                ratio = info.file_size // max(info.compress_size, 1)
                raise ProcessingError(
                    "archive_bomb",
                    f"Member {info.filename} would expand {ratio:,}:1 to {_human_size(info.file_size)}, "
                    "the mark of a decompression bomb.",
                )
        self._archive = archive
        # OPC part names are case-insensitive.
        self._members = {info.filename.lower(): info for info in infos}
        self._budget = budget
        self._remaining = budget
        self._max_elements = max_elements
        self._elements = 0

    @property
    def names(self) -> list[str]:
        return [info.filename for info in self._members.values()]

    def has(self, name: str) -> bool:
        return name.lower() in self._members

    def open(self, name: str) -> MemberReader:
        info = self._members.get(name.lower())
        if info is None:
            raise ProcessingError("corrupt_document", f"The package has no part {name}.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # Office writers only use deflate. zipfile inflates bzip2 and LZMA members with no limit per read,
            # so a few KiB of a hostile member could become gigabytes before a single byte is counted.
            raise ProcessingError(
                "corrupt_document", f"Part {name} uses a compression method that office files never use."
            )
        if info.file_size > self._remaining:
            raise ProcessingError(
                "archive_bomb",
                f"Part {name} declares {_human_size(info.file_size)} uncompressed, more than the "
                f"{_human_size(self._remaining)} left of the {_human_size(self._budget)} allowed for one document.",
            )
        try:
            stream = self._archive.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError) as exc:
            raise ProcessingError("corrupt_document", f"Part {name} of the package cannot be read ({exc}).") from exc
        return MemberReader(self, stream, name)

    def read(self, name: str, limit: int) -> bytes:
        reader = self.open(name)
        try:
            return reader.read(limit)
        finally:
            reader.close()

    def charge(self, size: int, name: str) -> None:
        # Counted as well as checked up front: the declared sizes come from the attacker.
        self._remaining -= size
        if self._remaining < 0:
            raise ProcessingError(
                "archive_bomb",
                f"Reading {name} passed the limit of {_human_size(self._budget)} decompressed for one document.",
            )

    def count_element(self, name: str) -> None:
        # Empty elements cost parsing time and no decompressed bytes to speak of: four bytes each.
        self._elements += 1
        if self._elements > self._max_elements:
            raise ProcessingError(
                "document_too_complex",
                f"Reading {name} passed the limit of {self._max_elements:,} XML elements for one document.",
            )


class MemberReader:
    """A ZIP member stream that charges every decompressed byte to its package's budget."""

    def __init__(self, package: Package, stream: zipfile.ZipExtFile, name: str) -> None:
        self._package = package
        self._stream = stream
        self._name = name

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(_READ_CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        try:
            data = self._stream.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ProcessingError("corrupt_document", f"Part {self._name} of the package is damaged ({exc}).") from exc
        self._package.charge(len(data), self._name)
        return data

    def close(self) -> None:
        self._stream.close()


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def xml_elements(
    package: Package, name: str, wanted: frozenset[str], drop: frozenset[str] = frozenset()
) -> Iterator[Element]:
    """Stream part `name`, yielding each complete element whose local name is in `wanted`.

    Only what a wanted element holds is kept until it is yielded; every other element is
    detached from its parent as it ends, and a yielded one after the caller is done with it,
    so a huge part is read in near-constant memory. Subtrees named in `drop` are never yielded.
    Every element counts against the package's element limit.
    """
    parents: list[Element] = []
    dropping = keeping = kept = 0
    reader = package.open(name)
    try:
        # Office XML never has a DTD, so refusing one costs nothing and rules out entity tricks entirely.
        for event, elem in iterparse(reader, events=("start", "end"), forbid_dtd=True):
            tag = local(elem.tag)
            if event == "start":
                package.count_element(name)
                kept = _count_kept(kept, keeping, name)
                parents.append(elem)
                if tag in drop:
                    dropping += 1
                elif tag in wanted and not dropping:
                    keeping += 1
                continue
            parents.pop()
            if tag in drop:
                dropping -= 1
            elif tag in wanted and not dropping:
                keeping -= 1
                kept = kept if keeping else 0
                yield elem
            elif keeping:
                continue  # part of a wanted element, still open
            if parents:
                parents[-1].remove(elem)
    except ParseError as exc:
        raise ProcessingError(
            "corrupt_document", f"Part {name} of the package is not well-formed XML ({exc})."
        ) from exc
    except DefusedXmlException as exc:
        raise ProcessingError(
            "corrupt_document",
            f"Part {name} declares a DTD or XML entities, which office files never contain; it was not parsed.",
        ) from exc
    finally:
        reader.close()


def _count_kept(kept: int, keeping: int, name: str) -> int:
    """Elements held inside open wanted elements (a paragraph, a row), which stay in memory."""
    if not keeping:
        return 0
    if kept >= MAX_KEPT_ELEMENTS:
        raise ProcessingError(
            "document_too_complex",
            f"Part {name} has a paragraph, row or string of more than {MAX_KEPT_ELEMENTS:,} XML elements, "
            "far more than any office file writes.",
        )
    return kept + 1
