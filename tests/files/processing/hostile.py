"""Crafted hostile files: archive bombs of each compression method, OLE2 files with huge
directories, PDFs that break PDFium's error state or never end, office XML of millions of
elements. Each builder writes to a path and returns it; sizes are parameters, so a test can
make one big enough to fail the old code and small enough for a shared machine."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

ODT = "application/vnd.oasis.opendocument.text"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
SVG_NS = "http://www.w3.org/2000/svg"
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


def _deflate_bomb(path: Path, name: str, head: bytes, zeros: int, others: dict[str, bytes]) -> Path:
    """A ZIP whose member `name` is `head` and `zeros` NUL bytes, deflated; the other members
    stored. After a full flush, deflate starts afresh, so each MiB of zeros deflates to the same
    block: a GiB is that block a thousand times, written in a second."""
    assert zeros % MB == 0 and len(head) + zeros < 0xFFFFFFFF
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(b"\x00" * MB) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()
    crc = zlib.crc32(head)
    for _ in range(zeros // MB):
        crc = zlib.crc32(b"\x00" * MB, crc)
    members = [(name, 8, crc, len(start) + len(block) * (zeros // MB) + len(end), len(head) + zeros)]
    members += [(other, 0, zlib.crc32(data), len(data), len(data)) for other, data in others.items()]
    directory, offset = b"", 0
    with path.open("wb") as out:
        for (member, method, crc, compressed, size), data in zip(members, [None, *others.values()], strict=True):
            encoded = member.encode()
            out.write(
                struct.pack(
                    "<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, method, 0, 0x21, crc, compressed, size, len(encoded), 0
                )
            )
            out.write(encoded)
            if data is None:
                out.write(start)
                for _ in range(zeros // MB):
                    out.write(block)
                out.write(end)
            else:
                out.write(data)
            directory += (
                struct.pack(
                    "<4s4B4HL2L5H2L",
                    b"PK\x01\x02",
                    20,
                    3,
                    20,
                    0,
                    0,
                    method,
                    0,
                    0x21,
                    crc,
                    compressed,
                    size,
                    len(encoded),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
                + encoded
            )
            offset = out.tell()
        out.write(directory)
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), offset, 0))
    return path


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
    if method == "deflate":
        return _deflate_bomb(path, "mimetype", ODT.encode(), zeros, {"content.xml": b"<office:document-content/>"})
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
    if method == "deflate":
        document = f'<w:document xmlns:w="{W_NS}"/>'.encode()
        return _deflate_bomb(path, "[Content_Types].xml", b"<Types>", zeros, {"word/document.xml": document})
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


# --- The hostile set: every file above, the corpus's rejects and hostile names -----------------

# Set as PROCESSING_MAX_XML_ELEMENTS wherever the set is processed, so the part of loose
# elements below passes it in about a second.
XML_ELEMENTS_LIMIT = 100_000


@dataclass(frozen=True)
class Hostile:
    """An upload and what must become of it: `refused` at upload (4xx JSON), or `failed` or
    `completed` after processing; `code` the error code expected ("" for any), `stored_name`
    the name a completed file is stored under. `clear` is refused or failed, either way."""

    label: str
    name: str
    data: bytes
    outcome: str
    code: str = ""
    stored_name: str = ""


def _read(builder, directory: Path, name: str, *args, **kwargs) -> bytes:
    return builder(directory / name, *args, **kwargs).read_bytes()


REFUSED = "unsupported_media_type"


def hostile_set(directory: Path, corpus: Path) -> list[Hostile]:
    """Everything hostile we know of, built in `directory` (about 15 MB all told)."""
    return [*_archives(directory), *_documents(directory), *_names(), *_corpus_rejects(corpus)]


def _archives(directory: Path) -> list[Hostile]:
    # Deflate's are 1 MiB inflating to 1 GiB; the others a few KiB (bzip2 and LZMA are slow to make).
    zeros = {"stored": 2 * MB, "deflate": 1024 * MB, "unknown": 2 * MB}
    docx_outcomes = {"stored": ("failed", "corrupt_document"), "deflate": ("failed", "archive_bomb")}
    cases = []
    for method in ZIP_METHODS:
        odf = _read(odf_bomb, directory, "b.odt", method, zeros=zeros.get(method, 4 * MB))
        cases.append(Hostile(f"odf bomb, {method}", "bomb.odt", odf, "refused", REFUSED))
        docx = _read(docx_bomb, directory, "b.docx", method, zeros=zeros.get(method, 4 * MB))
        outcome, code = docx_outcomes.get(method, ("refused", REFUSED))
        cases.append(Hostile(f"docx bomb, {method}", "bomb.docx", docx, outcome, code))
    many = _read(zip_with_many_members, directory, "m.docx", 85_000)
    return [*cases, Hostile("zip of 85,000 members", "many.docx", many, "refused", REFUSED)]


def _documents(directory: Path) -> list[Hostile]:
    corrupt, complex_ = "corrupt_document", "document_too_complex"
    huge = _read(ole_with_huge_directory, directory, "h.doc", 2500)
    loop = _read(ole_with_endless_stream, directory, "l.doc", 1024**3)
    loose = _read(docx_of_elements, directory, "e.docx", 150_000)
    paragraph = _read(docx_of_elements, directory, "p.docx", 250_000, inside_paragraph=True)
    script = f'<svg:svg xmlns:svg="{SVG_NS}"><svg:script>alert(1)</svg:script></svg:svg>'.encode()
    return [
        Hostile("ole with a 10 MB directory", "huge.doc", huge, "failed", corrupt),
        Hostile("ole stream that loops for 1 GiB", "loop.doc", loop, "failed", corrupt),
        Hostile("docx of 150,000 loose elements", "loose.docx", loose, "failed", complex_),
        Hostile("docx paragraph of 250,000 elements", "para.docx", paragraph, "failed", complex_),
        Hostile("pdf without pages", "nopages.pdf", pdf_without_pages(), "failed", corrupt),
        Hostile("pdf page tree that loops", "looping.pdf", pdf_with_looping_page_tree(), "failed", corrupt),
        Hostile("pdf that takes hours", "endless.pdf", pdf_with_endless_pages(), "failed", "processing_timed_out"),
        Hostile("svg with svg:script", "logo.svg", script, "refused", REFUSED),
    ]


def _names() -> list[Hostile]:
    text, jpeg = b"harmless words\n", b"\xff\xd8\xff\xe0" + b"\x00" * 64
    return [
        Hostile("name with ../", "../../etc/passwd.txt", text, "completed", stored_name="passwd.txt"),
        Hostile("name with NUL", "report\x00.txt", text, "completed", stored_name="report.txt"),
        Hostile("name of NUL alone", "\x00", text, "refused", "file_required"),
        # Stored as "photogpj.exe": a program's name, whatever the bytes.
        Hostile("name with RTL override", "photo\u202egpj.exe", jpeg, "refused", REFUSED),
        Hostile("name of 1,000 characters", "n" * 996 + ".txt", text, "completed", stored_name="n" * 251 + ".txt"),
    ]


def _corpus_rejects(corpus: Path) -> list[Hostile]:
    manifest = json.loads((corpus / "MANIFEST.json").read_text())
    return [
        Hostile(f"corpus {entry['file']}", Path(entry["file"]).name, (corpus / entry["file"]).read_bytes(), "clear")
        for entry in manifest
        if entry["expected"].get("should_reject")
    ]


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart body with `data` as the field `file` under `name`, byte for byte as given
    (a client library would escape or drop what a hostile client sends)."""
    boundary = "hostile-upload-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
    head += "Content-Type: application/octet-stream\r\n\r\n"
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def judge(case: Hostile, upload_status: int, upload_body: dict, final: dict | None) -> str | None:
    """What is wrong with what became of `case` (None: what should have): `upload_body` is the
    upload's JSON, `final` the file's JSON once processed (None when the upload was refused)."""
    if upload_status >= 500:
        return f"{case.label}: {upload_status} at upload"
    if upload_status != 201:
        if upload_status < 400 or not upload_body.get("detail") or not upload_body.get("code"):
            return f"{case.label}: {upload_status} {upload_body} is no clear refusal"
        got = ("refused", upload_body["code"])
    else:
        got = (final["status"], final["error_code"])
        if got[0] == "failed" and not (final["error"][:1].isupper() and final["error"].endswith(".")):
            return f"{case.label}: failed without a readable error ({final['error']!r})"
    wanted = ("refused", "failed") if case.outcome == "clear" else (case.outcome,)
    if got[0] not in wanted or (case.code and got[1] != case.code):
        return f"{case.label}: expected {case.outcome} {case.code}, got {got}"
    if case.stored_name and final["name"] != case.stored_name:
        return f"{case.label}: stored as {final['name']!r}"
    return None
