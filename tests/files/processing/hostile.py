"""Crafted hostile files: archive bombs of each compression method, OLE2 files with huge
directories, PDFs that break PDFium's error state or never end, office XML of millions of
elements. Each builder writes to a path and returns it; sizes are parameters, so a test can
make one big enough to fail the old code and small enough for a shared machine."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

ODT = "application/vnd.oasis.opendocument.text"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MB = 1024**2

# Method number → zipfile's constant; 99 (AES) is one zipfile cannot read at all.
ZIP_METHODS = {
    "stored": zipfile.ZIP_STORED,
    "deflate": zipfile.ZIP_DEFLATED,
    "bzip2": zipfile.ZIP_BZIP2,
    "lzma": zipfile.ZIP_LZMA,
    "unknown": 99,
}


def _write_member(archive: zipfile.ZipFile, name: str, head: bytes, zeros: int, method: int) -> None:
    info = zipfile.ZipInfo(name)
    info.compress_type = method
    with archive.open(info, "w", force_zip64=zeros > 2000 * MB) as member:
        member.write(head)
        chunk = b"\x00" * MB
        for _ in range(zeros // MB):
            member.write(chunk)
        member.write(b"\x00" * (zeros % MB))


def _set_method(path: Path, method: int) -> None:
    """Rewrite every member's compression method (local headers and directory) to `method`."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        position = data.find(signature)
        while position >= 0:
            struct.pack_into("<H", data, position + offset, method)
            position = data.find(signature, position + 4)
    path.write_bytes(bytes(data))


def odf_bomb(path: Path, method: str, zeros: int = 64 * MB) -> Path:
    """An OpenDocument text whose `mimetype` member is its type followed by `zeros` NUL bytes,
    compressed with `method` (stored: the upload is that big; the others: a few KiB)."""
    real = ZIP_METHODS[method]
    with zipfile.ZipFile(path, "w") as archive:
        _write_member(archive, "mimetype", ODT.encode(), zeros, real if real != 99 else zipfile.ZIP_STORED)
        archive.writestr("content.xml", "<office:document-content/>")
    if real == 99:
        _set_method(path, 99)
    return path


def odf(path: Path, method: int = zipfile.ZIP_DEFLATED) -> Path:
    """A small, valid-looking OpenDocument text (its `mimetype` compressed with `method`)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ODT, compress_type=method)
        archive.writestr(
            "content.xml",
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
            "<text:p>Quarterly figures</text:p></office:text></office:body></office:document-content>",
        )
    return path


def docx_bomb(path: Path, method: str, zeros: int = 64 * MB) -> Path:
    """A DOCX whose `[Content_Types].xml` is a bomb compressed with `method`."""
    real = ZIP_METHODS[method]
    with zipfile.ZipFile(path, "w") as archive:
        _write_member(archive, "[Content_Types].xml", b"<Types>", zeros, real if real != 99 else zipfile.ZIP_STORED)
        archive.writestr("word/document.xml", f'<w:document xmlns:w="{W_NS}"/>')
    if real == 99:
        _set_method(path, 99)
    return path


def zip_with_many_members(path: Path, members: int) -> Path:
    """A ZIP (named like a DOCX) whose central directory lists `members` entries, all naming one
    tiny local member: a few bytes per entry, and zipfile builds an object for each."""
    local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"a"
    entry = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
    names = [b"[Content_Types].xml", b"word/document.xml"]
    directory = bytearray()
    for index in range(members):
        name = names[index] if index < len(names) else b"a"
        directory += entry[:28] + struct.pack("<H", len(name)) + entry[30:] + name
    count = members % 0x10000  # what the field holds without ZIP64: zipfile goes by the size
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(local), 0)
    path.write_bytes(local + bytes(directory) + end)
    return path


def ole_with_huge_directory(path: Path, directory_sectors: int) -> Path:
    """A Word 97 file (OLE2, 4 KiB sectors) whose directory runs over `directory_sectors`
    chained sectors: a valid file whose directory olefile reads whole."""
    size = 4096
    per_fat = size // 4
    fat_count = -(-(directory_sectors + 8) // per_fat)
    assert fat_count <= 109, "the header's DIFAT holds 109 FAT sectors"
    first_directory = fat_count
    header = bytearray(size)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 4, 0xFFFE, 12, 6)
    struct.pack_into("<L", header, 0x2C, fat_count)
    struct.pack_into("<L", header, 0x30, first_directory)
    struct.pack_into("<LLLLL", header, 0x38, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    difat = list(range(fat_count)) + [0xFFFFFFFF] * (109 - fat_count)
    struct.pack_into("<109L", header, 0x4C, *difat)
    fat = [0xFFFFFFFD] * fat_count  # FAT sectors mark themselves
    fat += [first_directory + n + 1 for n in range(directory_sectors - 1)] + [0xFFFFFFFE]
    fat += [0xFFFFFFFF] * (fat_count * per_fat - len(fat))
    entries = [_ole_entry("Root Entry", 5, child=1), _ole_entry("WordDocument", 2)]
    first = b"".join(entries).ljust(size, b"\x00")
    with path.open("wb") as out:
        out.write(header)
        out.write(struct.pack(f"<{len(fat)}L", *fat))
        out.write(first)
        empty = b"\x00" * size
        for _ in range(directory_sectors - 1):
            out.write(empty)
    return path


def _ole_entry(name: str, kind: int, child: int = 0xFFFFFFFF) -> bytes:
    raw = name.encode("utf-16-le") + b"\x00\x00"
    entry = bytearray(128)
    entry[: len(raw)] = raw
    struct.pack_into("<HBB3L", entry, 0x40, len(raw), kind, 1, 0xFFFFFFFF, 0xFFFFFFFF, child)
    struct.pack_into("<LQ", entry, 0x74, 0xFFFFFFFE, 0)
    return bytes(entry)


def pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF of `objects` (numbered from 1) with a correct cross-reference table."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root %d 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return out


def pdf_without_pages() -> bytes:
    """A PDF PDFium opens but finds no page in: its catalog has no page tree."""
    return pdf([b"<</Type/Catalog>>"])


def pdf_with_endless_pages(levels: int = 6, operations: int = 20_000) -> bytes:
    """A PDF of 10**levels pages (PDFium counts at most about a million) in 1 KiB: each level
    of the page tree lists the next level's one node ten times, and every page draws the same
    `operations` lines (deflated), which PDFium parses again for each page."""
    objects = [b"<</Type/Catalog/Pages 2 0 R>>"]
    for level in range(levels):
        kid = len(objects) + 2
        kids = b" ".join(b"%d 0 R" % kid for _ in range(10))
        objects.append(b"<</Type/Pages/Kids[%s]/Count %d>>" % (kids, 10 ** (levels - level)))
    content = zlib.compress(b"0 0 m 1 1 l S\n" * operations, 9)
    objects.append(b"<</Type/Page/MediaBox[0 0 612 792]/Contents %d 0 R>>" % (len(objects) + 2))
    objects.append(b"<</Length %d/Filter/FlateDecode>>stream\n%s\nendstream" % (len(content), content))
    return pdf(objects)


def pdf_with_looping_page_tree() -> bytes:
    """A PDF whose page tree lists itself as its own kid."""
    return pdf([b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[2 0 R]/Count 1>>"])


def docx_of_elements(path: Path, elements: int, *, inside_paragraph: bool = False) -> Path:
    """A DOCX whose body holds `elements` empty elements (4 bytes each, deflated about 1000:1),
    loose in the body or all inside one paragraph."""
    start = f'<w:document xmlns:w="{W_NS}"><w:body>' + ("<w:p>" if inside_paragraph else "")
    end = ("</w:p>" if inside_paragraph else "") + "<w:p><w:r><w:t>the end</w:t></w:r></w:p></w:body></w:document>"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>',
        )
        with archive.open("word/document.xml", "w") as member:
            member.write(start.encode())
            block = b"<a/>" * 65536
            for _ in range(elements // 65536):
                member.write(block)
            member.write(b"<a/>" * (elements % 65536))
            member.write(end.encode())
    return path


def ole_with_endless_stream(path: Path, declared: int) -> Path:
    """A Word 97 file (OLE2, 512-byte sectors) whose WordDocument stream declares `declared`
    bytes in a chain of one sector that names itself as the next: 2 KiB on disk."""
    size = 512
    header = bytearray(size)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<LLLLLLLLL", header, 0x2C, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0, 0)
    struct.pack_into("<109L", header, 0x4C, 0, *[0xFFFFFFFF] * 108)
    fat = [0xFFFFFFFD, 0xFFFFFFFE, 2] + [0xFFFFFFFF] * (size // 4 - 3)  # sector 2 loops on itself
    word = bytearray(_ole_entry("WordDocument", 2))
    struct.pack_into("<LQ", word, 0x74, 2, declared)
    directory = (_ole_entry("Root Entry", 5, child=1) + bytes(word)).ljust(size, b"\x00")
    path.write_bytes(bytes(header) + struct.pack(f"<{size // 4}L", *fat) + directory + b"\xec\xa5" * (size // 2))
    return path
