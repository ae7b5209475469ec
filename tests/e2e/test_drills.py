"""Disaster drills on a region of the test's own (PostgreSQL, and S3 with a replica region),
with a real web process on it, and the management commands run as an operator runs them.

(a) Back up; lose the database and the primary bucket; restore the database from the backup
    and the objects from the replica: every file downloads with its SHA-256.
(b) Lose the database with no backup: `restore_from_bucket` brings back every file, folder,
    tag and version.
(c) Restore while the web process serves: requests meanwhile get 503 and Retry-After, and
    the same process answers 200 afterwards, without a restart.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
import requests
from django.conf import settings

from files import storage
from files.storage.transfer import object_transfer, object_verify
from mediaportal.celery import app as celery_app
from mediaportal.embedded import EmbeddedStack
from tests.e2e.test_database_faults import copy_test_database
from tests.e2e.web import Api, s3_env, web_server
from tests.helpers import CORPUS
from tests.snapshots import tenant_snapshot, usage_and_stored

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHOTO = CORPUS / "image_formats" / "hopper.webp"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def region():
    # Not under pytest's basetemp: a concurrent pytest session prunes old numbered folders
    # there, and took a running PostgreSQL's data directory with it.
    base = Path(tempfile.mkdtemp(prefix="mp-drill-"))
    stack = EmbeddedStack(var_dir=base / "stack", log=lambda line: None)
    (base / "stack").mkdir()
    try:
        env = stack.start(postgres=True, redis=False, s3=True, replica=True)
        yield {**env, "scratch": str(base)}
    finally:
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Drill:
    env: dict[str, str]  # what every process of the drilled deployment runs with
    scratch: Path  # backups and the web process's log and spool

    def sql(self, query: str, params=None, *, dbname: str = "mediaportal") -> list[tuple]:
        conn = psycopg2.connect(host=self.env["EMBEDDED_PG_SOCKET_DIR"], user="postgres", dbname=dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(query, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def snapshot(self, tenant) -> dict:
        with psycopg2.connect(host=self.env["EMBEDDED_PG_SOCKET_DIR"], user="postgres", dbname="mediaportal") as conn:
            with conn.cursor() as cursor:
                return {**tenant_snapshot(cursor, tenant.pk), "usage": usage_and_stored(cursor, tenant.pk)}

    def database_lost(self) -> None:
        self.sql("DROP DATABASE mediaportal WITH (FORCE)", dbname="postgres")
        self.sql("CREATE DATABASE mediaportal", dbname="postgres")

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def replicate(self) -> None:
        """What replication does (part B of issue 15): every blob and rendition object of
        the deployment copied to the replica region."""
        objects = self.sql(
            "SELECT storage_key, sha256, content_type, tenant_id FROM files_blob UNION ALL"
            " SELECT r.storage_key, r.sha256, 'image/' || r.format, r.tenant_id FROM files_rendition r"
        )
        for key, sha256, content_type, tenant_id in objects:
            object_transfer(key=key, source="primary", target="replica", sha256=sha256,
                            content_type=content_type, tenant_id=tenant_id)  # fmt: skip


def bucket_empty(role: str) -> None:
    for obj in list(storage.object_keys("", role)):
        storage.object_delete(obj["Key"], role)


@pytest.fixture
def drill(region, settings, request, tenant, owner) -> Drill:
    """The region emptied, its database a copy of the test database (users, tokens), and
    this process's storage pointed at its buckets."""
    settings.S3_ENDPOINT_URL = settings.S3_PUBLIC_ENDPOINT_URL = region["S3_ENDPOINT_URL"]
    settings.S3_REPLICA_ENDPOINT_URL = settings.S3_REPLICA_PUBLIC_ENDPOINT_URL = region["S3_REPLICA_ENDPOINT_URL"]
    settings.S3_ACCESS_KEY_ID = settings.S3_REPLICA_ACCESS_KEY_ID = region["S3_ACCESS_KEY_ID"]
    settings.S3_SECRET_ACCESS_KEY = settings.S3_REPLICA_SECRET_ACCESS_KEY = region["S3_SECRET_ACCESS_KEY"]
    stack_env = {name: value for name, value in region.items() if name != "scratch"}
    scratch = Path(region["scratch"]) / request.node.name
    scratch.mkdir()
    drill = Drill(
        env={**os.environ, "DATABASE_URL": region["DATABASE_URL"], **s3_env(stack_env),
             "S3_REPLICA_PUBLIC_ENDPOINT_URL": region["S3_REPLICA_ENDPOINT_URL"], "LOG_LEVEL": "WARNING"},
        scratch=scratch,
    )  # fmt: skip
    drill.database_lost()
    copy_test_database(stack_env)
    for role in storage.ROLES:
        bucket_empty(role)
    return drill


def populate(api: Api) -> dict[str, str]:
    """Tens of files in nested folders, with tags, descriptions, versions, a photo and a
    trashed one; returns each live file's id and the SHA-256 of its current bytes."""
    post = api.session.post
    photos = post(api.base + "folders/", json={"name": "Photos"}, timeout=30).json()
    year = post(api.base + "folders/", json={"name": "2024", "parent": photos["id"]}, timeout=30).json()
    expected = {}
    for n in range(24):
        data = f"document {n}\n".encode() * (n + 1)
        folder = (None, photos["id"], year["id"])[n % 3]
        made = api.upload(f"doc-{n}.txt", data, **({"folder": folder} if folder else {}))
        assert made.status_code == 201, made.text
        expected[made.json()["id"]] = sha(data)
        if n % 4 == 0:
            tags = {"tags": [f"t{n % 3}", "drill"], "description": f"Document number {n}."}
            assert api.session.patch(api.base + f"files/{made.json()['id']}/", json=tags, timeout=30).ok
        if n % 6 == 0:
            newer = data + b"second version\n"
            added = post(api.base + f"files/{made.json()['id']}/versions/", files={"file": (f"doc-{n}.txt", newer)},
                         timeout=30)  # fmt: skip
            assert added.status_code in (200, 201), added.text
            expected[made.json()["id"]] = sha(newer)
    photo = api.upload("hopper.webp", PHOTO.read_bytes(), folder=year["id"])
    expected[photo.json()["id"]] = sha(PHOTO.read_bytes())
    trashed = api.upload("trashed.txt", b"in the trash").json()["id"]
    assert api.session.delete(api.base + f"files/{trashed}/", timeout=30).status_code in (200, 204)
    return expected


def downloaded(api: Api, file_id: str) -> str:
    answer = api.get(f"files/{file_id}/download/")
    assert answer.status_code == 200, (file_id, answer.status_code, answer.text[:300])
    return sha(answer.content)


def test_drill_backup_then_database_and_primary_bucket_lost(owner, tenant, drill):
    with web_server(drill.scratch, env=drill.env) as web:
        api = Api(web, owner, tenant)
        expected = populate(api)
        drill.manage("reprocess", "--tenant", tenant.slug)
        drill.replicate()
        backup = drill.scratch / "backups" / "nightly"
        made = drill.manage("backup", str(backup))
        assert sorted(path.name for path in backup.iterdir()) == ["backup.json", "database.dump", "manifest.jsonl"]
        objects = len((backup / "manifest.jsonl").read_text().splitlines())
        assert f"lists {objects} objects" in made.stdout
        late = b"uploaded after the backup"
        assert api.upload("late.txt", late).status_code == 201
        drill.replicate()

        drill.database_lost()
        bucket_empty("primary")

        # Without the replica copy the restore says what the buckets lack, and fails.
        lacking = drill.manage("restore", str(backup), "--no-input", check=False)
        assert lacking.returncode == 1, lacking.stdout
        assert lacking.stdout.count("\n  replica  tenants/") == objects
        assert f"{objects} objects the backup names are not in their buckets" in lacking.stderr
        restored = drill.manage("restore", str(backup), "--no-input", "--objects-from-replica")
        assert f"{objects} copied" in restored.stdout, restored.stdout

        # Every file is back and downloads with its SHA-256, the one stored after the
        # backup in the Recovered folder.
        for file_id, digest in expected.items():
            assert downloaded(api, file_id) == digest
        recovered = drill.sql("SELECT f.id FROM files_file f JOIN files_folder d ON d.id = f.folder_id"
                              " WHERE d.name = 'Recovered'")  # fmt: skip
        assert [downloaded(api, str(row[0])) for row in recovered] == [sha(late)]
        assert drill.sql("SELECT count(*) FROM files_rendition")[0][0] > 0
        usage, stored = drill.snapshot(tenant)["usage"]
        assert usage == stored


def test_a_restore_names_the_objects_no_bucket_holds(owner, tenant, drill):
    with web_server(drill.scratch, env=drill.env) as web:
        api = Api(web, owner, tenant)
        kept = api.upload("kept.txt", b"kept").json()
        lost = api.upload("lost.txt", b"lost for good").json()
    drill.manage("backup", str(drill.scratch / "backup"))
    key = storage.blob_key(tenant.pk, sha(b"lost for good"))
    storage.object_delete(key)
    done = drill.manage("restore", str(drill.scratch / "backup"), "--no-input", "--objects-from-replica", check=False)
    assert done.returncode == 1
    assert f"  missing  {key}" in done.stdout and "1 missing" in done.stdout and "1 ok" in done.stdout
    assert "1 objects the backup names are not in their buckets" in done.stderr
    assert {row[0] for row in drill.sql("SELECT id::text FROM files_file")} == {kept["id"], lost["id"]}


def test_drill_database_lost_without_a_backup(owner, tenant, drill):
    with web_server(drill.scratch, env=drill.env) as web:
        api = Api(web, owner, tenant)
        expected = populate(api)
        drill.manage("reprocess", "--tenant", tenant.slug)
        drill.manage("write_manifests")
        before = drill.snapshot(tenant)
        late = b"uploaded after the last manifest"
        assert api.upload("late.txt", late).status_code == 201

    drill.database_lost()
    drill.manage("migrate", "-v0")
    done = drill.manage("restore_from_bucket")
    assert "1 recovered files" in done.stdout, done.stdout

    after = drill.snapshot(tenant)
    recovered = [row for row in after["files"] if row[12] == sha(late)]
    assert len(recovered) == 1
    after["files"].remove(recovered[0])
    after["versions"] = [row for row in after["versions"] if row[0] != recovered[0][0]]
    after["folders"] = [row for row in after["folders"] if row[2] != "Recovered"]
    after["blobs"] = [row for row in after["blobs"] if row[0] != sha(late)]
    usage, stored = after.pop("usage")
    assert usage == stored  # the quota counts the restored blobs
    before.pop("usage")
    assert after == before
    assert {row[0] for row in after["files"] if not row[9]} == set(expected)  # the live files
    for sha256, _size, _tier in after["blobs"]:
        assert object_verify(storage.blob_key(tenant.pk, sha256), role="primary", sha256=sha256) == "ok"
    members = drill.sql(
        "SELECT u.email, u.password FROM accounts_user u JOIN accounts_membership m ON m.user_id = u.id"
    )
    assert members == [(owner.user.email, members[0][1])] and members[0][1].startswith("!")  # no usable password


def _poll(web, api: Api, stop: threading.Event, seen: list) -> None:
    while not stop.is_set():
        for path, headers in ((api.base + "files/", api.session.headers), (f"{web.url}/healthz", {}),
                              (f"{web.url}/readyz", {})):  # fmt: skip
            try:
                answer = requests.get(path, headers=headers, timeout=30)
            except requests.RequestException as exc:
                seen.append((path, "error", repr(exc), None))
                continue
            code = answer.json().get("code") if answer.headers.get("Content-Type") == "application/json" else None
            seen.append((path.rsplit("/", 2)[-2] if path.endswith("/") else path.rsplit("/", 1)[-1],
                         answer.status_code, code, answer.headers.get("Retry-After")))  # fmt: skip
        time.sleep(0.05)


def _worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mediaportal", "worker", "-Q", "maintenance", "--pool=solo",
         "--without-mingle", "--without-gossip", "-n", f"drill-{time.monotonic_ns()}@%h", "--loglevel=WARNING"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _manifest_written(tenant, timeout: float = 60) -> None:
    key = f"tenants/{tenant.pk}/manifest.json"
    deadline = time.monotonic() + timeout
    while storage.object_head(key) is None:
        assert time.monotonic() < deadline, "the worker did not write the manifest"
        time.sleep(0.2)
    storage.object_delete(key)
    storage.object_delete(key, "replica")


def test_drill_restore_while_the_portal_serves(owner, tenant, drill):
    with web_server(drill.scratch, env=drill.env) as web:
        api = Api(web, owner, tenant)
        for n in range(5):
            assert api.upload(f"served-{n}.txt", f"served {n}".encode()).status_code == 201
        drill.manage("backup", str(drill.scratch / "backup"))
        worker = _worker(drill.env)
        try:
            celery_app.send_task("files.write_manifests")
            _manifest_written(tenant)  # the worker has used the database
            stop, seen = threading.Event(), []
            poller = threading.Thread(target=_poll, args=(web, api, stop, seen), daemon=True)
            poller.start()
            time.sleep(1)
            drill.manage("restore", str(drill.scratch / "backup"), "--no-input")
            time.sleep(1.5)  # past the flag's one-second reading in the web process
            stop.set()
            poller.join(30)

            # The worker's next task reads the restored database.
            celery_app.send_task("files.write_manifests")
            _manifest_written(tenant)
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(30)
        files = [entry for entry in seen if entry[0] == "files"]
        assert files[0][1] == 200 and files[-1][1] == 200
        assert {status for _, status, _, _ in files} == {200, 503}, files
        assert all(code == "maintenance" and int(retry) > 0 for _, status, code, retry in files if status == 503)
        assert {status for what, status, _, _ in seen if what == "healthz"} == {200}
        assert any(status == 503 for what, status, _, _ in seen if what == "readyz")
        # The same process, never restarted, serves reads and writes.
        assert web.proc.poll() is None
        for _ in range(8):
            assert api.get("files/").status_code == 200
        assert api.upload("after.txt", b"after the restore").status_code == 201
