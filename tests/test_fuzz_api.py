"""The API answers as it documents itself: schemathesis over /api/schema/, against the real app.

Schemathesis reads the OpenAPI document the app serves and sends every operation generated
requests (its examples, coverage and fuzzing phases), valid and invalid ones, as an owner of a
tenant holding real objects. Every answer must pass these checks: no server error, only
documented status codes and content types, bodies that match their documented schema, invalid
requests refused (`negative_data_rejection`) and valid ones accepted (`positive_data_acceptance`).

How it runs:
- In-process, through the WSGI app in schemathesis' worker thread, on the embedded PostgreSQL,
  Redis and S3 of the test run. Generation is deterministic: derandomized Hypothesis with a
  fixed seed, `EXAMPLES` cases per operation in the fuzzing phase, no state kept between runs
  (only values schemathesis reuses from earlier responses, such as ids and times, differ).
  About two minutes on two busy cores.
- Each request runs in a transaction of its own that is rolled back, so every request sees the
  same world (`world` below). Nothing a request does to the database outlives it, so no
  operation has to be left out or ordered: logging out, revoking a token, removing a member or
  emptying the trash cannot take the fuzzer's access or objects away from the requests after
  it. (Redis and S3 keep what requests did: throttle counts, uploaded bytes.)
- Path parameters name the world's objects, so requests reach them rather than only 404s.

What the checks cannot know is in `UNPREDICTABLE` (valid requests the API rightly refuses for
reasons no schema states, each a 400 with its code) and `OPERATIONS` (a check left out on
the two upload operations).
"""

from __future__ import annotations

import collections

import pytest
import requests
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction
from schemathesis.engine import events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData

from accounts.models import Role
from files.services.exports import export_run
from files.services.processing_run import file_process
from tests.factories import MembershipFactory
from tests.files.conftest import upload
from tests.helpers import CORPUS, client_for

pytestmark = pytest.mark.slow

EXAMPLES = 25
SEED = 13
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
]
# Valid requests refused because of something a schema cannot state; each is a 400 with its code.
UNPREDICTABLE = {
    # Existence: a well-formed id or name that names no one, or one that is taken.
    "unknown_user": "no member has that id or name",
    "unknown_group": "no group has that id",
    "username_taken": "someone registered that name",
    "email_taken": "someone registered that address",
    # Time and tenant settings: relative to now and to the tenant's maximum.
    "invalid_expiry": "an expiry in the past",
    "expiry_too_far": "an expiry beyond the tenant's maximum",
    "invalid_range": "a date range longer than the longest a usage series covers",
    # Content: what the bytes or words are, not their shape.
    "empty_file": "a file of no bytes (schemathesis fills file fields with b'')",
    "weak_password": "a common password, all digits, or like the username",
    "invalid_name": "a name of control or format characters only, which names drop",
    "null_characters_not_allowed": "text holding NUL, which PostgreSQL cannot store",
    # Where a webhook may point: the address its host names (checked, not a shape).
    "webhook_private_target": "a host on a private, loopback or link-local address",
    # A cursor is minted by the server; any other string is refused.
    "invalid_cursor": "a cursor the server did not make",
    "verification_throttled": "a verification mail to that address a moment ago",
    # Two-factor: a code is right only for the secret and the current 30 seconds.
    "invalid_otp": "a two-factor code that is not the current one",
    "mfa_not_started": "confirming two-factor before asking for a secret",
    "email_unchanged": "the account's own verified address",
    # Duplicates: whether two files hold the same picture is in their pixels.
    "not_similar": "resolving files that do not hold the same picture as the kept one",
    "invalid_others": "the kept file listed among the others",
}
UPLOADS = ["POST /api/v1/tenants/{tenant_slug}/files/", "POST /api/v1/tenants/{tenant_slug}/files/{file_id}/versions/"]
# Checks left out where they cannot judge, or until the work that settles them lands.
OPERATIONS = [
    # A multipart body carries text only: what schemathesis means as `true` for a string field
    # arrives as the valid string "true", yet it counts the request as invalid.
    {"include-name": UPLOADS, "checks": {"negative_data_rejection": {"enabled": False}}},
]


@pytest.fixture
def world(transactional_db) -> dict:
    """An owner's tenant with a colleague, a folder, files (one processed, with two versions),
    a trashed file, a share link, a group, grants, a spare token, a direct upload, an export and
    an invitation."""
    owner = MembershipFactory(role=Role.OWNER)
    tenant, colleague = owner.tenant, MembershipFactory(tenant=owner.tenant, role=Role.EDITOR).user
    api, t = client_for(owner.user), f"/api/v1/tenants/{owner.tenant.slug}/"
    folder = api.post(t + "folders/", {"name": "Projects"}, format="json").json()
    notes = upload(api, tenant, "notes.txt", b"meeting notes\n", folder=folder["id"], tags=["work"]).json()
    photo = upload(api, tenant, "photo.jpg", (CORPUS / "photo_exif" / "Kodak_CX7530.jpg").read_bytes()).json()
    second = (CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()
    api.post(
        t + f"files/{photo['id']}/versions/", {"file": SimpleUploadedFile("photo.jpg", second)}, format="multipart"
    )
    assert file_process(file_id=photo["id"]) == "completed"
    old = upload(api, tenant, "old.txt", b"old\n").json()
    api.delete(t + f"files/{old['id']}/")
    share = api.post(t + "shares/", {"file": notes["id"], "password": "open sesame"}, format="json").json()
    group = api.post(t + "groups/", {"name": "Team", "members": [str(colleague.id)]}, format="json").json()
    grant = {"user": str(colleague.id), "permissions": ["view"]}
    api.post(t + f"files/{notes['id']}/permissions/", grant, format="json")
    api.post(t + f"folders/{folder['id']}/permissions/", {"group": group["id"], "permissions": ["view"]}, format="json")
    token = api.post("/api/v1/auth/tokens/", {"name": "spare"}, format="json").json()
    direct = api.post(t + "uploads/", {"filename": "direct.txt", "size": 6}, format="json").json()
    stored = requests.post(direct["url"], data=direct["fields"], files={"file": ("direct.txt", b"direct")}, timeout=30)
    assert stored.ok, stored.content
    export = api.post(t + "exports/").json()
    invitation = api.post(t + "invitations/", {"email": "guest@example.com", "role": "editor"}, format="json").json()
    assert export_run(export_id=export["id"]) == "ready"
    return {
        "auth": api._credentials["HTTP_AUTHORIZATION"],
        "tenant_slug": tenant.slug,
        "folder_id": folder["id"],
        "file_id": photo["id"],
        "notes_id": notes["id"],
        "item_id": old["id"],
        "share_id": share["id"],
        "group_id": group["id"],
        "token_id": token["id"],
        "upload_id": direct["id"],
        "user_id": str(colleague.id),
        "export_id": export["id"],
        "invitation_id": invitation["id"],
    }


def _config(world: dict) -> schemathesis.Config:
    parameters = {name: value for name, value in world.items() if name not in ("auth", "notes_id")}
    permissions = "/api/v1/tenants/{tenant_slug}/%s/{object_id}/permissions/"
    targets = [  # whose permissions: the notes' grant to the colleague, the folder's to the group
        (permissions % "files", {"object_id": world["notes_id"], "grant_id": world["user_id"]}),
        (permissions % "folders", {"object_id": world["folder_id"], "grant_id": world["group_id"]}),
    ]
    accepted = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # Nothing carried from one run to the next (schemathesis keeps state in .schemathesis/).
            "cache": {"enabled": False},
            "workers": 1,
            "continue-on-failure": True,
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {
                # Links would chain created objects, which the rollback of each request undoes.
                "stateful": {"enabled": False},
                # Its DRF parser reads our error body's `errors` as a field of the request, then
                # "omits" that field by adding `errors: {}`, and calls the valid result invalid.
                "fuzzing": {"error-feedback": {"enabled": False}},
            },
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                # 413 and 415 answer for the bytes (too many, or of a type not accepted), which a
                # valid request may send; DESIGN.md §5 gives them for exactly that.
                "positive_data_acceptance": {"enabled": True, "expected-statuses": [*accepted, "413", "415"]},
            },
            "headers": {"Authorization": world["auth"]},
            "parameters": {**parameters, "number": 1, "kind": "thumbnail"},
            "operations": [
                *OPERATIONS,
                *({"include-path": [path, path + "{grant_id}/"], "parameters": ids} for path, ids in targets),
            ],
        }
    )


def _rolled_back(app, opened: list):
    """The WSGI app with each request in a transaction of its own, rolled back after it."""

    def call(environ, start_response):
        own = connections[DEFAULT_DB_ALIAS]  # schemathesis' worker thread's
        if own not in opened:
            opened.append(own)
        with transaction.atomic():
            body = list(app(environ, start_response))
            transaction.set_rollback(True)
        return body

    return call


@pytest.fixture
def wsgi_app():
    # As Django's test client does: closing "old" connections at each request would close the
    # one holding the open transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    opened: list = []
    yield _rolled_back(WSGIHandler(), opened)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    for own in opened:  # made in threads that have ended
        own.inc_thread_sharing()
        own.close()


def _failure_filter(dropped: collections.Counter):
    """schemathesis' `filter_failure` hook: drops the refusals listed in UNPREDICTABLE, counting them."""

    def keep(context, failure, case, response) -> bool:
        if isinstance(failure, RejectedPositiveData) and response.status_code == 400:
            code = response.json().get("code")
            if code in UNPREDICTABLE:
                dropped[code] += 1
                return False
        return True

    return keep


def _fuzz(schema) -> tuple[dict, list, collections.Counter]:
    """Runs every phase: the unique failures (with their check, response and curl), the errors,
    and how many cases ran."""
    failures: dict = {}
    errors: list = []
    counts: collections.Counter = collections.Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.value!r}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        counts["cases"] += len(event.recorder.cases)
        for case_id, checks in event.recorder.checks.items():
            for check in checks:
                if check.failure_info is not None and check.failure_info.failure not in failures:
                    interaction = event.recorder.interactions.get(case_id)
                    response = interaction.response if interaction else None
                    failures[check.failure_info.failure] = (check.name, response, check.failure_info.code_sample)
    return failures, errors, counts


def _report(failures: dict, errors: list, counts: collections.Counter, dropped: collections.Counter) -> str:
    kinds = collections.Counter(name for name, _, _ in failures.values())
    lines = [
        f"{len(failures)} failures {dict(kinds)}, {len(errors)} errors, in {counts['cases']} cases; "
        f"UNPREDICTABLE refusals dropped: {dict(dropped)}"
    ]
    for failure, (name, response, curl) in failures.items():
        answer = f"{response.status_code} {response.content[:300].decode(errors='replace')}" if response else "-"
        message = " | ".join(line for line in failure.message.splitlines() if line.strip())[:400]
        lines.append(f"--- {name}: {failure.operation} -> {answer}\n    {message}\n    {curl[:600]}")
    lines.extend(f"--- error {error}" for error in errors)
    return "\n".join(lines)


def test_the_api_answers_as_it_documents(world, wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, config=_config(world))
    dropped: collections.Counter = collections.Counter()
    schema.hook("filter_failure")(_failure_filter(dropped))
    failures, errors, counts = _fuzz(schema)
    report = _report(failures, errors, counts, dropped)
    print(report)
    assert not failures and not errors, report
    assert counts["cases"] > 30 * len(list(schema.get_all_operations())), report
