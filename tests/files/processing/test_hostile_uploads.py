"""Every hostile upload we know of gets a clear outcome: a 4xx with a reason at upload, or
`failed` with a readable error after processing; never a 5xx, never a stuck worker. The same
set goes through real web and worker processes in tests/e2e/test_hostile_uploads.py."""

from __future__ import annotations

import pytest

from files.services.processing_run import file_process
from tests.files.processing import hostile
from tests.files.processing.test_hostile_documents import soft_time_limit
from tests.helpers import CORPUS

pytestmark = pytest.mark.django_db


def test_every_hostile_upload_gets_a_clear_outcome(editor, tenant, tmp_path, settings):
    settings.PROCESSING_MAX_XML_ELEMENTS = hostile.XML_ELEMENTS_LIMIT
    files = f"/api/v1/tenants/{tenant.slug}/files/"
    problems = []
    for case in hostile.hostile_set(tmp_path, CORPUS):
        body, content_type = hostile.multipart(case.name, case.data)
        response = editor.generic("POST", files, body, content_type=content_type)
        final = None
        if response.status_code == 201:
            # The task's soft time limit, as a worker would have it (set low here).
            with soft_time_limit(3):
                file_process(file_id=response.json()["id"])
            final = editor.get(f"{files}{response.json()['id']}/").json()
        problems.append(hostile.judge(case, response.status_code, response.json(), final))
    assert [problem for problem in problems if problem] == []
