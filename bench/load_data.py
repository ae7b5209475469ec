"""The load bench's data: a user with an API token, folders of corpus photos and short notes,
all processed, and a share link to a folder of photos; and the bodies its uploads send."""

from __future__ import annotations

import json
import random
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"

# Real photos of the corpus (JPEG and PNG, 100×68 to 8 MP), each made unique per upload by
# a comment (JPEG) or text chunk (PNG), so every upload is a blob of its own and is processed.
PHOTOS = (
    "photo_exif/Kodak_CX7530.jpg",
    "photo_exif/court-exif.jpg",
    "photo_exif/Canon_40D.jpg",
    "photo_exif/landscape_6.jpg",
    "photo_exif/portrait_5.jpg",
    "photo_exif/canon_hdr_NO.jpg",
    "image_formats/transparent.png",
    "image_formats/pil123p.png",
    "image_formats/pil_sample_cmyk.jpg",
    "image_formats/progressive_icc.jpg",
    "large_dimension/jolla.jpg",
    "large_dimension/itxt_chunks.png",
)

WORDS = (
    "harbour invoice meeting garden river contract budget summer quarterly report lighthouse "
    "mountain festival library kitchen bicycle museum railway station market winter schedule "
    "holiday project design review bridge castle forest island village journey camera portrait "
    "sunset concert theatre gallery archive letter minutes agenda proposal estimate delivery "
    "warehouse customer supplier payment receipt training safety policy harvest orchard meadow "
    "glacier canyon desert coastline harbourmaster ferry tram airport terminal platform"
).split()

SHARED_PHOTOS = 12  # the shared folder's page shows this many thumbnails
PER_FOLDER = 50  # one page of the file list


def unique_image(data: bytes, tag: str) -> bytes:
    """The same picture with `tag` in a comment (JPEG) or a tEXt chunk (PNG): other bytes, same pixels."""
    marker = tag.encode()
    if data[:2] == b"\xff\xd8":
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(marker) + 2) + marker + data[2:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        chunk = b"tEXt" + b"bench\x00" + marker
        text = struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
        end_of_header = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
        return data[:end_of_header] + text + data[end_of_header:]
    raise ValueError("not a JPEG or PNG")


def note_text(rng: random.Random, words: int) -> str:
    lines = []
    while words > 0:
        n = min(words, rng.randint(6, 14))
        lines.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
        words -= n
    return "\n".join(lines) + "\n"


def upload_body(size: int = 100 * 1000) -> bytes:
    """Text of `size` bytes for the uploads, which make it unique with a first line of their own
    (never deduplicated: each is a write to S3 and a processing run). Its words are made-up
    ones that none of the searches ask for: the searches keep to the prepared files, so that
    their cost does not grow with every upload of the run (see docs/benchmarks.md, load)."""
    rng = random.Random(7)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words = ["q" + "".join(rng.choices(syllables, k=rng.randint(1, 3))) for _ in range(3000)]
    lines, length = [], 0
    while length < size:
        line = " ".join(rng.choices(words, k=rng.randint(6, 14))).capitalize() + "."
        lines.append(line)
        length += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]


@dataclass
class Corpus:
    base: str
    token: str
    tenant: str
    photo_ids: list[str] = field(default_factory=list)
    note_ids: list[str] = field(default_factory=list)
    folder_ids: list[str] = field(default_factory=list)
    inbox_id: str = ""
    share_token: str = ""
    failed: int = 0

    @property
    def api(self) -> str:
        return f"/api/v1/tenants/{self.tenant}"

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


class Preparer:
    def __init__(self, base: str, log=print) -> None:
        self.base = base
        self.log = log
        self.http = requests.Session()
        # gunicorn closes a keep-alive connection idle for 2 s: a GET that reuses it just then
        # finds it closed, and goes again on a new one (as browsers do).
        self.http.mount("http://", HTTPAdapter(max_retries=Retry(total=3, allowed_methods={"GET"})))
        self.rng = random.Random(42)

    def _post(self, path: str, expect: int = 201, **kwargs) -> dict:
        response = self.http.post(self.base + path, timeout=60, **kwargs)
        if response.status_code != expect:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def register(self) -> Corpus:
        body = self._post(
            "/api/v1/auth/register/",
            json={"username": "loadbench", "email": "loadbench@example.com", "password": "load bench password 42"},
        )
        self.http.headers["Authorization"] = f"Token {body['token']}"
        return Corpus(base=self.base, token=body["token"], tenant=body["tenant"]["slug"])

    def folder(self, corpus: Corpus, name: str) -> str:
        return self._post(f"{corpus.api}/folders/", json={"name": name})["id"]

    def upload(self, corpus: Corpus, *, name: str, data: bytes, folder: str) -> str:
        return self._post(f"{corpus.api}/files/", files={"file": (name, data)}, data={"folder": folder})["id"]

    def prepare(self, *, photos: int, notes: int) -> Corpus:
        """Upload `photos` photos and `notes` notes, wait until all are processed, share a folder."""
        started = time.monotonic()
        corpus = self.register()
        sources = [(CORPUS / path).read_bytes() for path in PHOTOS]
        shared = self.folder(corpus, "shared")
        for n in range(photos):
            if n < SHARED_PHOTOS:
                folder = shared
            else:
                if (n - SHARED_PHOTOS) % PER_FOLDER == 0:
                    corpus.folder_ids.append(self.folder(corpus, f"photos {len(corpus.folder_ids) + 1}"))
                folder = corpus.folder_ids[-1]
            path = PHOTOS[n % len(PHOTOS)]
            data = unique_image(sources[n % len(sources)], f"load bench {n}")
            stem, ext = Path(path).stem, Path(path).suffix
            corpus.photo_ids.append(self.upload(corpus, name=f"{stem} {n}{ext}", data=data, folder=folder))
        for n in range(notes):
            if n % PER_FOLDER == 0:
                corpus.folder_ids.append(self.folder(corpus, f"notes {n // PER_FOLDER + 1}"))
            text = note_text(self.rng, self.rng.randint(80, 600)).encode()
            corpus.note_ids.append(self.upload(corpus, name=f"note {n}.txt", data=text, folder=corpus.folder_ids[-1]))
        corpus.inbox_id = self.folder(corpus, "inbox")
        self.log(f"  uploaded {photos} photos and {notes} notes in {time.monotonic() - started:.1f} s")
        failed = self.wait_processed(corpus, photos + notes)
        corpus.photo_ids = [i for i in corpus.photo_ids if i not in failed]
        corpus.note_ids = [i for i in corpus.note_ids if i not in failed]
        corpus.failed = len(failed)
        corpus.share_token = self._post(f"{corpus.api}/shares/", json={"folder": shared})["token"]
        self.log(f"  data ready in {time.monotonic() - started:.1f} s ({corpus.failed} failed processing)")
        return corpus

    def wait_processed(self, corpus: Corpus, total: int, timeout: float = 900) -> set[str]:
        """Wait until every file is completed or failed; returns the ids of those that failed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = {s: self._ids(corpus, s) for s in ("completed", "failed")}
            if len(done["completed"]) + len(done["failed"]) >= total:
                return done["failed"]
            time.sleep(2)
        raise RuntimeError(f"processing did not finish within {timeout:.0f} s")

    def _ids(self, corpus: Corpus, status: str) -> set[str]:
        ids, url = set(), f"{self.base}{corpus.api}/files/?status={status}&page_size=200"
        while url:
            page = self.http.get(url, timeout=60).json()
            ids.update(f["id"] for f in page["results"])
            url = page.get("next")
        return ids
