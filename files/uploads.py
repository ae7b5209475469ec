"""Request-body handling for uploads: hash and count as the bytes arrive, stop past the limit."""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import tempfile
from collections.abc import Callable, Iterable
from typing import NoReturn

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.utils.encoding import force_str
from django.utils.http import parse_header_parameters

from mediaportal.exceptions import InsufficientStorage, PayloadTooLarge

# Room for the multipart boundaries and small form fields around the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
SPOOL_IN_MEMORY_BYTES = 512 * 1024
# Reads of the request body: gunicorn's largest recv(). Smaller reads make more rounds through
# its buffer and the GIL, larger ones were slower again. At most three of these are alive at
# once, while the unread tail of one is joined to the next.
READ_CHUNK_BYTES = 1024 * 1024
# Django refuses part headers over 1 KiB, which a long non-ASCII file name can exceed.
MAX_PART_HEADER_BYTES = 8 * 1024
# Writes to the spool that fail for want of room: a full disk, a quota, a file size limit.
SPOOL_FULL_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

Sink = Callable[[memoryview], None]


class HashedUpload(UploadedFile):
    """An uploaded file whose SHA-256 and size were computed while it was received."""

    def __init__(self, file, *, name: str, content_type: str, size: int, sha256: str):
        super().__init__(file=file, name=name, content_type=content_type, size=size)
        self.sha256 = sha256

    @classmethod
    def from_chunks(cls, chunks: Iterable[bytes], *, name: str, content_type: str = "") -> HashedUpload:
        """Spool an iterable of byte chunks (an S3 body, a local file) the same way."""
        spool = HashingSpool()
        for chunk in chunks:
            spool.write(chunk)
        return spool.upload(name=name, content_type=content_type)


class HashingSpool:
    """Bytes as they arrive: hashed, counted and copied to a temporary file (small ones stay
    in memory), so the hash is known once the last byte is in and nothing is held whole."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.digest.update(data)
        self.file.write(data)
        self.size += len(data)

    def upload(self, *, name: str, content_type: str) -> HashedUpload:
        self.file.seek(0)
        return HashedUpload(
            self.file, name=name, content_type=content_type, size=self.size, sha256=self.digest.hexdigest()
        )

    def close(self) -> None:
        self.file.close()


class HashingUploadHandler(FileUploadHandler):
    """Takes over the whole request body: one pass that hashes, counts and spools each chunk.

    The spool is a temporary file (small uploads stay in memory), so an upload never sits
    whole in memory, and the hash is known before anything is written to S3 — which is
    what lets a duplicate cost no S3 write at all, and what S3 checks the bytes against.
    The multipart body is parsed here (`handle_raw_input`, `MultipartReader`) instead of by
    Django's parser, which costs more per byte and keeps a file whose body was cut short
    (docs/benchmarks.md has the figures); each file goes through the usual `new_file` /
    `receive_data_chunk` / `file_complete` steps.

    The handler is installed with the request but stays closed until the view has decided
    who is asking, that they may upload here, and how much (`open`): whatever reads the body
    before then (a CSRF check, an error page) gets an empty form and not one byte is read.
    Once open, `max_bytes` bounds all file parts of the body together, not each one.
    """

    def __init__(self, request=None, *, max_bytes: int | None = None):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large = False
        self.spool_full = False
        self.received = 0

    def raise_if_refused(self, detail: str) -> None:
        """Once the body is read: past the limit a 413 saying `detail`, the spool full a 507."""
        if self.too_large:
            raise PayloadTooLarge(detail)
        if self.spool_full:
            raise InsufficientStorage()

    def open(self, *, max_bytes: int) -> None:
        """Let the body be read, its file parts together at most `max_bytes`."""
        self.max_bytes = max_bytes

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if self.max_bytes is None:
            return QueryDict(), MultiValueDict()
        return MultipartReader(
            handler=self, stream=input_data, content_length=content_length, boundary=boundary, encoding=encoding
        ).parse()

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self._spool = HashingSpool()

    def receive_data_chunk(self, raw_data: bytes | memoryview, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.too_large = True
            self._stop()
        try:
            self._spool.write(raw_data)
        except OSError as exc:
            # No room left for the spool (its disk, a quota, the process's file size limit):
            # the upload cannot be taken now, which says nothing about the file.
            if exc.errno not in SPOOL_FULL_ERRORS:
                raise
            self.spool_full = True
            self._stop()
        return None

    def _stop(self) -> NoReturn:
        self._spool.close()
        raise StopUpload(connection_reset=True)

    def file_complete(self, file_size: int) -> HashedUpload:
        return self._spool.upload(name=self.file_name, content_type=self.content_type or "")

    def upload_interrupted(self) -> None:
        spool = getattr(self, "_spool", None)
        if spool is not None:
            spool.close()


def _part_headers(block: bytes) -> dict[str, tuple[str, dict[str, bytes]]]:
    """A part's headers read the way Django's parser reads them (lower-cased names, parameters
    as bytes, RFC 2231 `filename*` decoded, lines that are not headers skipped)."""
    headers = {}
    for line in block.split(b"\r\n"):
        try:
            main, params = parse_header_parameters(line.decode())
            name, value = main.split(":", 1)
            headers[name] = value, {key: v.encode() for key, v in params.items()}
        except ValueError:
            continue
    return headers


def _discard(data: memoryview) -> None:
    return None


class MultipartReader:
    """One multipart/form-data body (RFC 7578) parsed into `(POST, FILES)` exactly as Django's
    `MultiPartParser` returns them, feeding file parts to the handler as they arrive.

    Stricter than Django where Django would store a damaged upload: a body that ends before
    its closing delimiter, or a delimiter line with anything but padding after the boundary,
    is a `MultiPartParserError` (a 400), and no file of such a body is kept.
    """

    def __init__(self, *, handler: HashingUploadHandler, stream, content_length: int, boundary: bytes, encoding):
        self.handler = handler
        self.stream = stream
        self.remaining = content_length
        self.delimiter = b"\r\n--" + boundary
        self.encoding = encoding or settings.DEFAULT_CHARSET
        # The first delimiter may open the body without a CRLF before it (RFC 2046 5.1.1): a
        # virtual CRLF lets one search find every delimiter.
        self.buf = b"\r\n"
        self.pos = 0
        self.post = QueryDict(mutable=True)
        self.files = MultiValueDict()
        self.field_count = 0
        self.file_count = 0
        self.field_bytes = 0

    def parse(self) -> tuple[QueryDict, MultiValueDict]:
        try:
            self._body(_discard)  # the preamble
            while not self._closing():
                if not self._part():
                    break  # the handler refused the file (too large): stop reading the body
            else:
                self._drain()
        except BaseException:
            self.handler.upload_interrupted()
            for _name, uploads in self.files.lists():
                for upload in uploads:
                    upload.close()
            raise
        self.post._mutable = False
        return self.post, self.files

    # --- reading -----------------------------------------------------------------

    def _more(self) -> None:
        """Append the next piece of the body to the buffer, dropping what was consumed."""
        chunk = self.stream.read(min(READ_CHUNK_BYTES, self.remaining)) if self.remaining > 0 else b""
        if not chunk:
            raise MultiPartParserError("The body ended before its closing boundary.")
        self.remaining -= len(chunk)
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0

    def _need(self, end: int) -> None:
        """Make the buffer hold `end` bytes past the current position."""
        while len(self.buf) - self.pos < end:
            self._more()

    def _find(self, needle: bytes, start: int, limit: int) -> int:
        """Offset (from the position) of `needle` at or after `start`, found within `limit` bytes."""
        while True:
            found = self.buf.find(needle, self.pos + start, self.pos + limit)
            if found >= 0:
                return found - self.pos
            if len(self.buf) - self.pos >= limit:
                raise MultiPartParserError("A part's headers are too long.")
            start = max(start, len(self.buf) - self.pos - len(needle) + 1)
            self._more()

    def _drain(self) -> None:
        # What follows the closing delimiter is an epilogue to ignore; reading it to the end
        # is what Django does too, so the connection is left at the next request.
        while self.remaining > 0 and (chunk := self.stream.read(min(READ_CHUNK_BYTES, self.remaining))):
            self.remaining -= len(chunk)

    def _body(self, sink: Sink) -> None:
        """Feed the bytes up to the next delimiter to `sink`, and step over the delimiter.

        Each read is passed on at once but for a tail that may begin a delimiter (from a CR
        among its last `len(delimiter) - 1` bytes), so a delimiter split across two reads is
        still found and memory stays at two reads.
        """
        keep = len(self.delimiter) - 1
        while True:
            # Every delimiter starts with a CR: memchr finding none (text with LF line ends)
            # rules a read out several times faster than the search for the whole delimiter.
            cr = self.buf.find(b"\r", self.pos)
            found = -1 if cr < 0 else self.buf.find(self.delimiter, cr)
            if found >= 0:
                if found > self.pos:
                    sink(memoryview(self.buf)[self.pos : found])
                self.pos = found + len(self.delimiter)
                return
            tail_cr = self.buf.find(b"\r", max(self.pos, len(self.buf) - keep))
            safe = tail_cr if tail_cr >= 0 else len(self.buf)
            if safe > self.pos:
                sink(memoryview(self.buf)[self.pos : safe])
                self.pos = safe
            self._more()

    def _closing(self) -> bool:
        """After a delimiter: True for the closing one (`--`), False when a part follows."""
        self._need(2)
        return self.buf[self.pos : self.pos + 2] == b"--"

    def _headers(self) -> dict[str, tuple[str, dict[str, bytes]]]:
        """Read the part's header block, leaving the position at its body."""
        line_end = self._find(b"\r\n", 0, MAX_PART_HEADER_BYTES)
        if self.buf[self.pos : self.pos + line_end].strip(b" \t"):
            # "--boundary" followed by more than padding: a longer boundary, or garbage.
            raise MultiPartParserError("A boundary line has unexpected characters after the boundary.")
        # Searching from the delimiter line's own CRLF makes an empty header block match too.
        block_end = self._find(b"\r\n\r\n", line_end, MAX_PART_HEADER_BYTES)
        self._need(block_end + 2 + len(self.delimiter))
        early = self.buf.find(self.delimiter, self.pos + line_end, self.pos + block_end + 2 + len(self.delimiter))
        if early >= 0 and early - self.pos < block_end + 2:
            raise MultiPartParserError("A part has no blank line after its headers.")
        block = self.buf[self.pos + line_end + 2 : self.pos + block_end]
        # A part may end right after its headers (RFC 2046 makes the body optional): the blank
        # line's CRLF is then the next delimiter's, and the body is empty.
        self.pos += block_end + (2 if early >= 0 else 4)
        return _part_headers(block)

    # --- parts -------------------------------------------------------------------

    def _part(self) -> bool:
        """Parse one part; False when the handler stopped the upload."""
        headers = self._headers()
        disposition = headers.get("content-disposition")
        is_file = bool(disposition and disposition[1].get("filename"))
        if is_file:
            self.file_count += 1
            if settings.DATA_UPLOAD_MAX_NUMBER_FILES is not None:
                if self.file_count > settings.DATA_UPLOAD_MAX_NUMBER_FILES:
                    raise TooManyFilesSent("The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES.")
        else:
            self.field_count += 1
            if settings.DATA_UPLOAD_MAX_NUMBER_FIELDS is not None:
                if self.field_count > settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:
                    raise TooManyFieldsSent(
                        "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
                    )
        if disposition is None or "name" not in disposition[1]:
            self._body(_discard)
            return True
        name = force_str(disposition[1]["name"].strip(), self.encoding, errors="replace")
        transfer_encoding = headers.get("content-transfer-encoding")
        base64_encoded = transfer_encoding is not None and transfer_encoding[0].strip() == "base64"
        if not is_file:
            self._field(name, base64_encoded=base64_encoded)
            return True
        file_name = force_str(disposition[1]["filename"], self.encoding, errors="replace")
        # Django's own clean-up of the name (path parts, non-printables); the function uses
        # nothing of its parser instance.
        file_name = MultiPartParser.sanitize_file_name(self, file_name)
        if not file_name:
            self._body(_discard)
            return True
        return self._file(name, file_name, headers, base64_encoded=base64_encoded)

    def _field(self, name: str, *, base64_encoded: bool) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        pieces: list[bytes] = []

        def collect(data: memoryview) -> None:
            self.field_bytes += len(data)
            if limit is not None and self.field_bytes > limit:
                raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
            pieces.append(bytes(data))

        self._body(collect)
        # Counted like Django does, to match its x-www-form-urlencoded check ('&' and '=').
        self.field_bytes += len(name) + 2
        if limit is not None and self.field_bytes > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        data = b"".join(pieces)
        if base64_encoded:
            try:
                data = base64.b64decode(data)
            except binascii.Error:
                pass  # kept as sent, as Django does
        self.post.appendlist(name, force_str(data, self.encoding, errors="replace"))

    def _file(self, name: str, file_name: str, headers: dict, *, base64_encoded: bool) -> bool:
        content_type, content_type_extra = headers.get("content-type", ("", {}))
        try:
            content_length = int(headers["content-length"][0])
        except (KeyError, ValueError):
            content_length = None
        handler = self.handler
        handler.new_file(
            name, file_name, content_type.strip(), content_length, content_type_extra.get("charset"), content_type_extra
        )
        received = 0

        def feed(data: bytes | memoryview) -> None:
            nonlocal received
            handler.receive_data_chunk(data, received)
            received += len(data)

        try:
            if base64_encoded:
                self._base64_body(feed)
            else:
                self._body(feed)
        except StopUpload:
            return False
        upload = handler.file_complete(received)
        if upload is not None:
            self.files.appendlist(name, upload)
        return True

    def _base64_body(self, feed: Callable[[bytes], None]) -> None:
        # Decoded in whole quanta of four characters, the rest carried over to the next piece.
        carry = b""

        def decode(data: memoryview) -> None:
            nonlocal carry
            stripped = carry + b"".join(bytes(data).split())
            aligned = len(stripped) // 4 * 4
            carry = stripped[aligned:]
            if aligned:
                try:
                    feed(base64.b64decode(stripped[:aligned]))
                except binascii.Error as exc:
                    raise MultiPartParserError("Could not decode base64 data.") from exc

        self._body(decode)
        if carry:
            raise MultiPartParserError("Could not decode base64 data.")


def declared_too_large(request, max_bytes: int) -> bool:
    """Refuse before reading a byte when the declared body cannot fit."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return declared > max_bytes + FORM_OVERHEAD_BYTES
