"""Similar images: how well copies are found, and how fast, in one tenant of 1,000,000.

`main()` measures, on the test set made from the corpus photos (tests/files/similar_set.py:
11 photos, 8 copies each: re-encoded, resized, cropped, edited):

- precision and recall of "related" over every pair (a pair is found when the band search
  reaches it and `kind_of` accepts it), and how often the kind is right;

then starts a private embedded stack, migrates, and puts the set's fingerprints into one
tenant among synthetic ones (random hashes, one in ten a near copy of the one before),
written with SQL on the server, at 100,000 and then 1,000,000; at each size it times the
search of `files.services.similar` (candidates by the eight indexed bands, full distances
in SQL, kinds in Python) for each of the set's fingerprints and as many synthetic ones.

Figures go to stdout and docs/benchmarks.md (section "similar"; only a full run writes it).

    .venv/bin/python bench/similar.py [--sizes 100000 1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.private_stack import django_on_private_stack  # noqa: E402
from bench.report import median_ms, p95_ms, write_section  # noqa: E402

FULL = (100_000, 1_000_000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=list(FULL))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--shared-buffers", default="1GB")
    args = parser.parse_args()
    with django_on_private_stack("similar", shared_buffers=args.shared_buffers, replica=False):
        body = run(args)
        print("\n" + body)
        if tuple(args.sizes) == FULL:
            write_section("similar", body)
            print("\nwritten to docs/benchmarks.md", flush=True)


# --- Quality on the test set --------------------------------------------------------


def fingerprints() -> list:
    from files.processing.images import image_fingerprint
    from files.services.processing import processing_limits
    from tests.files import similar_set

    samples = similar_set.build()
    found = []
    with tempfile.TemporaryDirectory() as folder:
        for sample in samples:
            path = Path(folder) / sample.name
            path.write_bytes(sample.data)
            found.append(image_fingerprint(str(path), original_size=len(sample.data), limits=processing_limits()))
    return list(zip(samples, found, strict=True))


def reached(a, b) -> bool:
    """Whether the band search finds `b` from `a`: a band of either hash within one bit."""
    from files.processing.similar import bands

    pairs = zip((*bands(a.phash), *bands(a.dhash)), (*bands(b.phash), *bands(b.dhash)), strict=True)
    return any((x ^ y).bit_count() <= 1 for x, y in pairs)


def quality(pairs: list) -> dict:
    from files.processing.similar import kind_of

    counts = {"tp": 0, "fp": 0, "fn": 0, "kind_right": 0, "kind_checked": 0, "unreached": 0, "missed": []}
    for (sa, fa), (sb, fb) in itertools.combinations(pairs, 2):
        same = sa.photo == sb.photo
        kind = kind_of(fa, fb) if reached(fa, fb) else None
        if same and kind is None:
            counts["missed"].append(f"{sa.variant} – {sb.variant}")
            counts["unreached"] += kind_of(fa, fb) is not None
        counts["tp" if same and kind else "fp" if kind else "fn" if same else "tn"] = (
            counts.get("tp" if same and kind else "fp" if kind else "fn" if same else "tn", 0) + 1
        )
        if same and kind and "original" in (sa.variant, sb.variant):
            copy = sb if sa.variant == "original" else sa
            counts["kind_checked"] += 1
            counts["kind_right"] += kind == copy.kind
    return counts


# --- Speed at scale -----------------------------------------------------------------

BANDS_SQL = """
    ((phash >> 48) & 65535)::int, ((phash >> 32) & 65535)::int, ((phash >> 16) & 65535)::int, (phash & 65535)::int,
    ((dhash >> 48) & 65535)::int, ((dhash >> 32) & 65535)::int, ((dhash >> 16) & 65535)::int, (dhash & 65535)::int
"""
RANDOM64 = "((floor(random() * 4294967296)::bigint << 32) | floor(random() * 4294967296)::bigint)"


def add_synthetic(cursor, tenant_id: str, start: int, count: int) -> None:
    """`count` blobs and fingerprints with random hashes; one in ten a near copy of the one
    before (two bits of each hash flipped), so groups and near matches exist as in life."""
    cursor.execute(
        """
        INSERT INTO files_blob (tenant_id, sha256, size, content_type, storage_key, tier, created_at)
        SELECT %(t)s, encode(sha256(convert_to(%(t)s || ':' || g, 'UTF8')), 'hex'), 100000 + g %% 5000000,
               'image/jpeg', 'bench/' || g, 'hot', now()
        FROM generate_series(%(a)s, %(b)s) g
        """,
        {"t": tenant_id, "a": start, "b": start + count - 1},
    )
    cursor.execute(
        f"""
        WITH raw AS (
            SELECT b.id AS blob_id, {RANDOM64} AS p, {RANDOM64} AS d, g
            FROM files_blob b, LATERAL (SELECT split_part(b.storage_key, '/', 2)::int AS g) s
            WHERE b.tenant_id = %(t)s AND b.storage_key LIKE 'bench/%%' AND g BETWEEN %(a)s AND %(b)s
        ), hashed AS (
            SELECT blob_id,
                   CASE WHEN g %% 10 = 0 THEN lag(p) OVER w # 5 ELSE p END AS phash,
                   CASE WHEN g %% 10 = 0 THEN lag(d) OVER w # 40 ELSE d END AS dhash
            FROM raw WINDOW w AS (ORDER BY g)
        )
        INSERT INTO files_imagefingerprint (tenant_id, blob_id, phash, dhash, colour, grid,
            p0, p1, p2, p3, d0, d1, d2, d3, width, height, format, quality, has_exif, group_id, created_at)
        SELECT %(t)s, blob_id, phash, dhash, 0, decode(repeat('80', 64), 'hex'), {BANDS_SQL},
               4000, 3000, 'JPEG', 90, true, NULL, now()
        FROM hashed WHERE phash IS NOT NULL
        """,
        {"t": tenant_id, "a": start, "b": start + count - 1},
    )


def time_queries(rows: list, repeat: int = 1) -> list[float]:
    from files.services.similar import _neighbours

    samples = []
    for row in rows:
        for _ in range(repeat):
            started = time.perf_counter()
            _neighbours(row, size=row.blob.size)
            samples.append(time.perf_counter() - started)
    return samples


def run(args) -> str:
    from django.db import connection

    from accounts.models import Tenant
    from files.models import Blob, ImageFingerprint
    from files.services.similar import fingerprint_record

    pairs = fingerprints()
    counts = quality(pairs)
    print(f"  quality: {counts}", flush=True)
    tenant = Tenant.objects.create(slug=f"bench-similar-{time.monotonic_ns()}", name="Bench similar")
    real = []
    for n, (sample, fp) in enumerate(pairs):
        blob = Blob.objects.create(
            tenant=tenant, sha256=f"{n:064x}", size=len(sample.data), content_type="image/jpeg", storage_key=f"s/{n}"
        )
        real.append(fingerprint_record(blob=blob, fingerprint=fp))
    speed, have = {}, 0
    for size in sorted(args.sizes):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            add_synthetic(cursor, str(tenant.pk), have, size - have)
            cursor.execute("ANALYZE files_imagefingerprint")
        have = size
        print(f"  {size:,} fingerprints written in {time.perf_counter() - started:.0f} s", flush=True)
        rows = list(ImageFingerprint.objects.filter(pk__in=[r.pk for r in real]).select_related("blob"))
        synthetic = list(
            ImageFingerprint.objects.filter(tenant=tenant, blob__storage_key__startswith="bench/")
            .select_related("blob")
            .order_by("?")[: args.queries]
        )
        time_queries(rows[:10])  # warm-up
        speed[size] = (time_queries(random.sample(rows, min(len(rows), args.queries))), time_queries(synthetic))
        print(f"  {size:,}: p50 {median_ms(speed[size][0] + speed[size][1]):.1f} ms", flush=True)
    return _document(counts, speed, len(pairs))


def _document(counts: dict, speed: dict, samples: int) -> str:
    precision = counts["tp"] / max(1, counts["tp"] + counts["fp"])
    recall = counts["tp"] / max(1, counts["tp"] + counts["fn"])
    lines = [
        "## Similar images",
        "",
        f"Test set: {samples} pictures from 11 corpus photos (each: original, JPEG q60, PNG, WebP, half, third, "
        "8 % crop, brighter, coloured overlay); every pair checked.",
        "",
        "| pairs | found right | reported wrongly | missed | precision | recall | kind right (copy vs original) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {sum(counts.get(k, 0) for k in ('tp', 'fp', 'fn', 'tn')):,} | {counts['tp']} | {counts['fp']} | "
        f"{counts['fn']} | {precision:.3f} | {recall:.3f} | {counts['kind_right']}/{counts['kind_checked']} |",
        "",
        f"Missed pairs (copies of one photo): {', '.join(counts['missed']) or 'none'}; "
        f"{counts['unreached']} related pairs were out of the band search's reach.",
        "",
        "Query time of one search (`files.services.similar._neighbours`: the eight band lookups, full distances in "
        "SQL, kinds in Python), one tenant, random hashes plus the test set:",
        "",
        "| fingerprints in the tenant | queries | p50 ms | p95 ms | p50 ms (set's pictures) | p95 ms (synthetic) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size, (real, synthetic) in sorted(speed.items()):
        both = real + synthetic
        lines.append(
            f"| {size:,} | {len(both)} | {median_ms(both):.1f} | {p95_ms(both):.1f} | {median_ms(real):.1f} | "
            f"{p95_ms(synthetic):.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
