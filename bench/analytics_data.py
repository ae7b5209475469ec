"""One large tenant for bench/analytics.py, written with SQL on the server (generate_series),
not through the ORM: files with versions and blobs, duplicates, archived and replicated blobs,
thumbnails, tags, labels and the trash, and a year of audit events.

Everything is a deterministic function of the row number, so a run can be repeated:

- contents: file i holds content i, except every tenth file, a duplicate of the file before;
  every tenth file (i ≡ 5) has a second version with content of its own;
- blobs: one per distinct content; one in five archived, eight in ten replicated;
  the images among them have a WebP thumbnail;
- files: in one of the folders (one in seven at the root), owned by one of the users, with
  0-3 of 200 tags and one in four with a label; one in a hundred is in the trash;
- events: spread evenly over the last 365 days; 10 % uploads, 40 % downloads, 25 % share
  page views, 10 % share downloads, the rest edits, new versions and share unlocks.
"""

from __future__ import annotations

import time

from django.db import transaction

TYPES = ["image/jpeg", "image/png", "application/pdf", "video/mp4", "text/plain", "application/zip"]
EXTENSIONS = ["jpg", "png", "pdf", "mp4", "txt", "zip"]
LABELS = ["invoice", "contract", "receipt", "report", "photo", "draft", "signed", "personal"]
TAGS = 200
USERS = 20
TOP_FOLDERS = 40
SUBFOLDERS = 5
EVENT_CHUNK = 1_000_000

# The content number of file i (a duplicate takes its predecessor's), and expressions of it.
CONTENT = "(CASE WHEN g %% 10 = 0 THEN g - 1 ELSE g END)"
SHA = "encode(sha256(convert_to(%(tenant)s || ':' || {c}, 'UTF8')), 'hex')"
SIZE = "(4096 + ({c}::bigint * 7919) %% 24000000)"
KIND = "(({c}) %% 6)"


def build(connection, *, files: int, events: int, log=print) -> dict:
    """The tenant, its owner and its rows; returns {"tenant", "owner", "seconds": {...}}."""
    tenant, owner, users, folders = _people_and_folders()
    params = {
        "tenant": str(tenant.pk),
        "n": files,
        "users": [str(u.pk) for u in users],
        "folders": [str(f.pk) for f in folders],
        "types": TYPES,
        "exts": EXTENSIONS,
        "labels": LABELS,
    }
    seconds = {}
    with connection.cursor() as cursor:
        started = time.perf_counter()
        _blobs(cursor, params)
        with transaction.atomic():
            _files_and_versions(cursor, params)
        seconds["files"] = time.perf_counter() - started
        log(f"  {files:,} files with versions, blobs and thumbnails in {seconds['files']:.0f} s", flush=True)
        started = time.perf_counter()
        _events(cursor, params, events, log)
        seconds["events"] = time.perf_counter() - started
        log(f"  {events:,} events in {seconds['events']:.0f} s", flush=True)
        started = time.perf_counter()
        for table in ("files_blob", "files_file", "files_fileversion", "files_rendition", "accounts_activityevent"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")
        seconds["analyze"] = time.perf_counter() - started
    return {"tenant": tenant, "owner": owner, "seconds": seconds}


def _people_and_folders():
    """The few rows the ORM makes: users, memberships and folders (hundreds, not millions)."""
    from accounts.models import Membership, Role, Tenant, User
    from files.models import Folder

    stamp = time.monotonic_ns()
    tenant = Tenant.objects.create(slug=f"bench-analytics-{stamp}", name="Bench analytics", quota_bytes=50 * 2**40)
    users = [User(username=f"user{n:02d}-{stamp}", email=f"u{n}@example.com") for n in range(USERS)]
    for user in users:
        user.set_unusable_password()
    users = User.objects.bulk_create(users)
    Membership.objects.bulk_create(
        [Membership(tenant=tenant, user=u, role=Role.OWNER if n == 0 else Role.EDITOR) for n, u in enumerate(users)]
    )
    tops = Folder.objects.bulk_create(
        [
            Folder(tenant=tenant, name=f"Folder {n:02d}", path=f"/Folder {n:02d}/", created_by=users[n % USERS])
            for n in range(TOP_FOLDERS)
        ]
    )
    subs = Folder.objects.bulk_create(
        [
            Folder(tenant=tenant, parent=top, name=f"Sub {m}", path=f"{top.path}Sub {m}/", created_by=top.created_by)
            for top in tops
            for m in range(SUBFOLDERS)
        ]
    )
    return tenant, users[0], users, tops + subs


def _blobs(cursor, params: dict) -> None:
    """Distinct contents, then the second versions' contents; thumbnails of the images."""
    c = "c"
    cursor.execute(
        f"""
        INSERT INTO files_blob (tenant_id, sha256, size, content_type, storage_key, tier, created_at,
                                archived_at, replicated_at)
        SELECT %(tenant)s::uuid, {SHA.format(c=c)}, {SIZE.format(c=c)}, (%(types)s::text[])[1 + {KIND.format(c=c)}],
               'tenants/' || %(tenant)s || '/blobs/' || {SHA.format(c=c)},
               CASE WHEN c %% 5 = 0 THEN 'archive' ELSE 'hot' END,
               now() - make_interval(days => (c %% 365)::int),
               CASE WHEN c %% 5 = 0 THEN now() - interval '1 day' END,
               CASE WHEN c %% 10 < 8 THEN now() END
        FROM (SELECT g AS c FROM generate_series(1, %(n)s) g WHERE g %% 10 <> 0
              UNION ALL SELECT %(n)s + g FROM generate_series(1, %(n)s) g WHERE g %% 10 = 5) contents
        """,
        params,
    )
    cursor.execute(
        """
        INSERT INTO files_rendition (tenant_id, blob_id, kind, format, width, height, size, storage_key, sha256,
                                     created_at, replicated_at)
        SELECT tenant_id, id, 'thumbnail', 'webp', 200, 150, 9000 + id %% 3000, storage_key || '/thumbnail.webp',
               '', created_at, replicated_at
        FROM files_blob WHERE tenant_id = %(tenant)s::uuid AND content_type LIKE 'image/%%'
        """,
        params,
    )


def _files_and_versions(cursor, params: dict) -> None:
    """Files and their versions in one transaction: the ids of the versions are chosen here
    (the sequence moved past them after), so each file is written once with its current
    version (the foreign keys are checked at commit)."""
    cursor.execute("SELECT COALESCE(max(id), 0) FROM files_fileversion")
    params = {**params, "base": cursor.fetchone()[0]}
    file_id = "md5(%(tenant)s || ':file:' || g)::uuid"
    current = f"(CASE WHEN g %% 10 = 5 THEN %(n)s + g ELSE {CONTENT} END)"
    tags = "ARRAY(SELECT 'tag' || ((g + k * 67) %% 200) FROM generate_series(1, g %% 4) k)"
    cursor.execute(
        f"""
        INSERT INTO files_fileversion (id, tenant_id, file_id, number, blob_id, uploaded_by_id, created_at, comment,
                                       processing_attempts)
        SELECT %(base)s + g, %(tenant)s::uuid, {file_id}, 1, b.id, (%(users)s::uuid[])[1 + g %% 20],
               now() - make_interval(days => (g %% 365)::int), '', 0
        FROM generate_series(1, %(n)s) g
        JOIN files_blob b ON b.tenant_id = %(tenant)s::uuid AND b.sha256 = {SHA.format(c=CONTENT)}
        UNION ALL
        SELECT %(base)s + %(n)s + g, %(tenant)s::uuid, {file_id}, 2, b.id, (%(users)s::uuid[])[1 + (g + 3) %% 20],
               now() - make_interval(days => (g %% 180)::int), '', 0
        FROM generate_series(1, %(n)s) g
        JOIN files_blob b ON b.tenant_id = %(tenant)s::uuid AND b.sha256 = {SHA.format(c="(%(n)s + g)")}
        WHERE g %% 10 = 5
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO files_file (id, tenant_id, folder_id, name, owner_id, current_version_id, size, content_type,
                                sha256, visibility, description, tags, labels, status, error, error_code, metadata,
                                content_text, created_at, updated_at, last_accessed_at, deleted_at)
        SELECT {file_id}, %(tenant)s::uuid,
               CASE WHEN g %% 7 = 0 THEN NULL
                    ELSE (%(folders)s::uuid[])[1 + g %% array_length(%(folders)s::uuid[], 1)] END,
               'file-' || g || '.' || (%(exts)s::text[])[1 + {KIND.format(c=current)}],
               (%(users)s::uuid[])[1 + g %% 20], %(base)s + CASE WHEN g %% 10 = 5 THEN %(n)s + g ELSE g END,
               {SIZE.format(c=current)}, (%(types)s::text[])[1 + {KIND.format(c=current)}],
               {SHA.format(c=current)}, 'tenant', '', {tags},
               CASE WHEN g %% 4 = 0 THEN jsonb_build_array(jsonb_build_object(
                   'name', (%(labels)s::text[])[1 + (g / 4) %% 8])) ELSE '[]'::jsonb END,
               'completed', '', '', '{{}}'::jsonb, '',
               now() - make_interval(days => (g %% 365)::int), now() - make_interval(days => (g %% 365)::int),
               NULL, CASE WHEN g %% 100 = 0 THEN now() END
        FROM generate_series(1, %(n)s) g
        """,
        params,
    )
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence('files_fileversion', 'id'), (SELECT max(id) FROM files_fileversion))"
    )


def _events(cursor, params: dict, events: int, log) -> None:
    """`events` audit events spread evenly over the last year, in chunks (progress shown),
    with the table's indexes dropped for the load and built again after."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'accounts_activityevent' "
        "AND indexname NOT LIKE '%%pkey'"
    )
    indexes = dict(cursor.fetchall())
    for name in indexes:
        cursor.execute(f"DROP INDEX {name}")
    verb = (
        "(ARRAY['file.uploaded','file.uploaded','file.downloaded','file.downloaded','file.downloaded',"
        "'file.downloaded','file.downloaded','file.downloaded','file.downloaded','file.downloaded',"
        "'share.viewed','share.viewed','share.viewed','share.viewed','share.viewed','share.downloaded',"
        "'share.downloaded','file.updated','share.password_accepted','file.version_uploaded'])[1 + g %% 20]"
    )
    started = time.perf_counter()
    for first in range(1, events + 1, EVENT_CHUNK):
        last = min(events, first + EVENT_CHUNK - 1)
        cursor.execute(
            f"""
            INSERT INTO accounts_activityevent (tenant_id, user_id, verb, target_type, target_id, target_repr, ip,
                                                data, at)
            SELECT %(tenant)s::uuid, CASE WHEN g %% 20 BETWEEN 10 AND 16 OR g %% 20 = 18 THEN NULL
                                        ELSE (%(users)s::uuid[])[1 + (g / 20) %% 20] END,
                   v, CASE WHEN v LIKE 'share.%%' THEN 'sharelink' ELSE 'file' END,
                   md5(%(tenant)s || ':file:' || (1 + g %% %(n)s))::uuid::text, 'file-' || (1 + g %% %(n)s),
                   CASE WHEN v LIKE 'share.%%' THEN '203.0.113.' || (g %% 250) END::inet,
                   CASE WHEN v = 'file.uploaded' THEN jsonb_build_object('size', 4096 + (g::bigint * 7919) %% 24000000)
                        ELSE '{{}}'::jsonb END,
                   now() - make_interval(secs => (%(events)s - g) * 31536000.0 / %(events)s)
            FROM (SELECT g, {verb} AS v FROM generate_series(%(first)s, %(last)s) g) e
            """,
            {**params, "events": events, "first": first, "last": last},
        )
        log(f"    {last:,} events ({time.perf_counter() - started:.0f} s)", flush=True)
    cursor.execute("SET maintenance_work_mem = '1GB'")
    for sql in indexes.values():
        cursor.execute(sql)
    cursor.execute("RESET maintenance_work_mem")
