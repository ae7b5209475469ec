"""Legacy Office (DOC, XLS, PPT in OLE2 compound files): summary properties and text.

Word's text is read through its piece table; Excel's and PowerPoint's from their records, or
as runs of readable characters where no parser is worth owning.
"""

from __future__ import annotations

import codecs
import re
import struct
from datetime import UTC, datetime
from pathlib import Path

import olefile

from files.processing.documents.common import DocumentResult, TextSink, set_text_fields
from files.processing.errors import ProcessingError

CONTENT_TYPES = frozenset({"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"})

# olefile and struct surface damage as any of these; none of them may fail a legacy file's text.
_UNREADABLE = (struct.error, ValueError, IndexError, KeyError, OSError, EOFError, OverflowError, TypeError)
_OLE_CODECS = {1200: "utf-16-le", 65001: "utf-8", 10000: "mac_roman"}


def extract(path: Path, sink: TextSink, *, declared_office: bool) -> DocumentResult:
    try:
        ole = olefile.OleFileIO(str(path))
    except _UNREADABLE as exc:
        raise ProcessingError(
            "corrupt_document", "The file is not a readable OLE2 compound file (legacy Office format)."
        ) from exc
    with ole:
        metadata = _ole_summary(ole)
        if ole.exists("EncryptedPackage"):
            # A password-protected DOCX/XLSX/PPTX is an OLE2 wrapper around the encrypted ZIP. Like a locked
            # PDF it is a valid file the user stored, not a failure.
            metadata.update(encrypted=True, password_required=True)
            return DocumentResult(metadata=metadata, text="", preview=None)
        if ole.exists("WordDocument"):
            metadata["format"] = "DOC"
            _doc_text(ole, sink, metadata)
        elif ole.exists("Workbook") or ole.exists("Book"):
            metadata["format"] = "XLS"
            _xls_text(ole, sink, metadata)
        elif ole.exists("PowerPoint Document"):
            metadata["format"] = "PPT"
            _ppt_text(ole, sink, metadata)
        elif not declared_office:
            raise ProcessingError(
                "unsupported_document", "The file is an OLE2 compound file but not a Word, Excel or PowerPoint one."
            )
    return DocumentResult(metadata=metadata, text=sink.text(), preview=None)


def _ole_summary(ole: olefile.OleFileIO) -> dict[str, object]:
    try:
        summary = ole.get_metadata()
    except _UNREADABLE:
        return {}
    codec = _OLE_CODECS.get(summary.codepage or 1252, f"cp{summary.codepage}")
    try:
        codecs.lookup(codec)
    except LookupError:
        codec = "cp1252"

    def decoded(value: object) -> object:
        return value.decode(codec, "replace") if isinstance(value, bytes) else value

    metadata: dict[str, object] = {}
    set_text_fields(
        metadata, title=decoded(summary.title), author=decoded(summary.author), subject=decoded(summary.subject)
    )
    created = summary.create_time
    # A FILETIME of zero comes back as 1601-01-01: no date was stored. FILETIME is UTC.
    if isinstance(created, datetime) and created.year > 1601:
        metadata["created"] = created.replace(tzinfo=UTC).isoformat()
    if isinstance(summary.num_pages, int) and summary.num_pages > 0:
        metadata["page_count"] = summary.num_pages
    return metadata


def _ole_stream(ole: olefile.OleFileIO, name: str) -> bytes:
    try:
        # Each sector of a real stream is in the file once; olefile follows a chain that loops
        # for as many bytes as the stream declares, which may be gigabytes.
        if ole.get_size(name) > (ole.nb_sect + 1) * ole.sectorsize:
            raise ProcessingError("corrupt_document", f"The {name} stream claims to be larger than the whole file.")
        return ole.openstream(name).read()
    except _UNREADABLE:
        return b""


_WORD_FIELD_BEGIN, _WORD_FIELD_SEPARATOR, _WORD_FIELD_END = "\x13", "\x14", "\x15"
_WORD_CHARS = str.maketrans({"\x07": "\t", "\x0b": "\n", "\x0c": "\n", "\x1e": "-", "\x1f": None, "\xa0": " "})


def _doc_text(ole: olefile.OleFileIO, sink: TextSink, metadata: dict[str, object]) -> None:
    word = _ole_stream(ole, "WordDocument")
    if len(word) < 0x0C:
        raise ProcessingError("corrupt_document", "The WordDocument stream is too short to hold a Word document.")
    flags = struct.unpack_from("<H", word, 0x0A)[0]
    if flags & 0x0100:  # FIB fEncrypted: the text is RC4 or XOR ciphertext
        metadata.update(encrypted=True, password_required=True)
        return
    try:
        text = _doc_piece_text(ole, word, flags, sink.limit)
    except _UNREADABLE:
        # Word 6/95 and damaged files: fall back to whatever runs of readable characters the stream holds.
        text = _printable_runs(word, sink.limit)
    sink.add(text)


def _doc_piece_text(ole: olefile.OleFileIO, word: bytes, flags: int, limit: int) -> str:
    """The main text of a Word 97+ document, read through the piece table ([MS-DOC] 2.4.1)."""
    if struct.unpack_from("<H", word, 0x02)[0] < 0x00C1:
        raise ValueError("pre-Word 97 file")
    # The FIB is a chain of variable-length arrays; walk their counts instead of trusting fixed offsets.
    pos = 0x20
    csw = struct.unpack_from("<H", word, pos)[0]
    pos += 2 + csw * 2
    cslw = struct.unpack_from("<H", word, pos)[0]
    fib_rg_lw = pos + 2
    pos = fib_rg_lw + cslw * 4
    ccp_text = struct.unpack_from("<i", word, fib_rg_lw + 3 * 4)[0]
    fc_clx, lcb_clx = struct.unpack_from("<II", word, pos + 2 + 33 * 8)  # fcClx is pair 33 of FibRgFcLcb97
    table = _ole_stream(ole, "1Table" if flags & 0x0200 else "0Table")
    clx = table[fc_clx : fc_clx + lcb_clx]

    offset = 0
    while clx[offset] == 0x01:  # Prc entries (formatting) come before the piece table
        size = struct.unpack_from("<h", clx, offset + 1)[0]
        if size < 0:  # would walk backwards forever
            raise ValueError("negative Prc size")
        offset += 3 + size
    if clx[offset] != 0x02:
        raise ValueError("no piece table")
    lcb = struct.unpack_from("<I", clx, offset + 1)[0]
    plc = clx[offset + 5 : offset + 5 + lcb]
    pieces = (lcb - 4) // 12
    cps = struct.unpack_from(f"<{pieces + 1}I", plc, 0)

    parts: list[str] = []
    size = 0
    for index in range(pieces):
        start, end = cps[index], min(cps[index + 1], ccp_text)
        if start >= end or size >= limit:
            break
        fc = struct.unpack_from("<I", plc, 4 * (pieces + 1) + 8 * index + 2)[0]
        count = end - start
        if fc & 0x40000000:  # fCompressed: one cp1252 byte per character at fc/2
            begin = (fc & 0x3FFFFFFF) // 2
            parts.append(word[begin : begin + count].decode("cp1252", "replace"))
        else:
            parts.append(word[fc : fc + 2 * count].decode("utf-16-le", "replace"))
        size += count
    return _word_visible_text("".join(parts))


def _word_visible_text(text: str) -> str:
    # Fields are BEGIN code SEPARATOR result END, and may nest: keep the result, drop the code.
    out: list[str] = []
    in_code: list[bool] = []
    for char in text:
        if char == _WORD_FIELD_BEGIN:
            in_code.append(True)
        elif char == _WORD_FIELD_SEPARATOR and in_code:
            in_code[-1] = False
        elif char == _WORD_FIELD_END and in_code:
            in_code.pop()
        elif not (in_code and in_code[-1]):
            out.append(char)
    return "".join(out).translate(_WORD_CHARS)


def _xls_text(ole: olefile.OleFileIO, sink: TextSink, metadata: dict[str, object]) -> None:
    stream = _ole_stream(ole, "Workbook") or _ole_stream(ole, "Book")
    # FILEPASS (0x002F) follows BOF at the start of the workbook globals when the workbook is encrypted.
    pos = 0
    for _record in range(16):
        if pos + 4 > len(stream):
            break
        record_type, length = struct.unpack_from("<HH", stream, pos)
        if record_type == 0x002F:
            metadata.update(encrypted=True, password_required=True)
            return
        pos += 4 + length
    # Strings live in SST records split across CONTINUE records; runs of readable characters find them
    # without a BIFF parser, at the price of some formatting names.
    sink.add(_printable_runs(stream, sink.limit))


def _ppt_text(ole: olefile.OleFileIO, sink: TextSink, metadata: dict[str, object]) -> None:
    if ole.exists("EncryptedSummary"):
        metadata.update(encrypted=True, password_required=True)
        return
    stream = _ole_stream(ole, "PowerPoint Document")
    # Records are (version/instance, type, length); containers (version 0xF) hold records, atoms hold data.
    # Slide text sits in TextCharsAtom (UTF-16) and TextBytesAtom (8-bit) records.
    pos = 0
    try:
        while pos + 8 <= len(stream) and not sink.full:
            version, record_type, length = struct.unpack_from("<HHI", stream, pos)
            pos += 8
            if version & 0x000F == 0x000F:
                continue
            body = stream[pos : pos + length]
            pos += length
            if record_type == 0x0FA0:
                sink.add(body.decode("utf-16-le", "replace").replace("\x0b", "\n") + "\n")
            elif record_type == 0x0FA8:
                sink.add(body.decode("cp1252", "replace").replace("\x0b", "\n") + "\n")
    except _UNREADABLE:
        sink.add(_printable_runs(stream, sink.limit))


# UTF-16LE runs of Latin-1, Latin Extended-A and basic Cyrillic characters, and 8-bit runs of printable
# cp1252 characters. Wider ranges mostly catch binary tables (00 01 00 01 reads as "ĀĀ").
_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e\xa0-\xff\t\r\n]\x00|[\x00-\x7f]\x01|[\x00-\x5f]\x04){4,}")
_BYTE_RUN = re.compile(rb"[\x20-\x7e\xa0-\xff\t\r\n]{4,}")


def _printable_runs(data: bytes, limit: int) -> str:
    """Text-looking runs of at least four characters from a binary stream, one per line."""
    kept: list[str] = []
    size = 0
    for pattern, codec in ((_UTF16_RUN, "utf-16-le"), (_BYTE_RUN, "cp1252")):
        for match in pattern.finditer(data):
            run = match.group().decode(codec, "replace").strip()
            # Mostly letters and not one character repeated: words, not printable-looking binary noise.
            if len(run) < 4 or len(set(run)) < 3 or sum(c.isalpha() or c == " " for c in run) < 0.7 * len(run):
                continue
            kept.append(run)
            size += len(run) + 1
            if size >= limit:
                return "\n".join(kept)
    return "\n".join(kept)
