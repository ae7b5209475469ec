"""A tenant's storage quota and usage.

The usage is the sum of the tenant's `TenantUsage` rows, which triggers on files_blob insert
as blobs come and go (shared content counts once). They are only ever inserted, so neither
uploads nor purges wait for each other to count; `quota_confirm`, and `usage_settle` after a
purge, fold them into one row when they pile up.

New bytes are counted at the end of the upload's transaction, by `quota_confirm`, under the
tenant's quota lock, taken just before the commit (the last lock, see files.services.locks):
each upload counts all those that committed before it, so uploads in flight together cannot
overfill the quota, and the one that no longer fits is refused and its object deleted.
Counted before the write instead, two uploads that each fit alone could both commit. Bytes
the tenant stores already add nothing; bytes larger than the whole quota are refused before
they are written (`blob_claim`), and a direct upload's session checks the usage when it
starts, before the client sends anything.

Reporting usage (by user, folder and type, over time) is analytics' job
(analytics.services.snapshots); the check stays here because it must refuse an upload in
the upload's own transaction, and files may not import analytics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Count, Sum

from accounts.models import Tenant, TenantUsage
from files import storage
from files.services.locks import quota_lock
from mediaportal.exceptions import PayloadTooLarge

log = logging.getLogger(__name__)

# A tenant's usage rows are folded into one once there are more than this many.
USAGE_ROWS_FOLDED_AFTER = 64


def quota_confirm(*, tenant: Tenant, written: Iterable[str]) -> None:
    """413 unless the tenant's usage, counted with every upload committed before this one,
    still fits its quota; delete the objects this transaction `written` when it does not.

    Call at the end of the writes that claimed new bytes, once their S3 writes finished:
    the lock is held until the transaction ends, so nothing that waits for other locks
    should follow. The usage is read after the lock is granted (one statement each: a
    statement sees what committed before the statement began).
    """
    if _usage_under_lock(tenant_id=tenant.id) <= tenant.quota_bytes:
        return
    # Still under the content locks: no other upload can have claimed these addresses. An
    # object that cannot be deleted now is an orphan, which the sweep removes later.
    for object_key in written:
        try:
            storage.object_delete(object_key)
        except Exception:  # noqa: BLE001 - the answer is the 413 either way
            log.warning("could not delete %s after a refused upload; left to the orphan sweep", object_key)
    raise PayloadTooLarge("The tenant's storage quota is used up.", code="quota_exceeded")


def usage_settle(*, tenant_id) -> None:
    """Fold the tenant's usage rows when they piled up, in a transaction of its own that
    holds nothing but the quota lock: for after a purge's commit, which writes a row per
    blob it releases, so a tenant that only deletes does not leave the next reads (its
    usage on every tenant page, a direct upload's start) summing thousands of rows."""
    with transaction.atomic():
        _usage_under_lock(tenant_id=tenant_id)


def tenant_usage_bytes(*, tenant: Tenant) -> int:
    """Bytes stored for the tenant, counting shared content once (what the quota measures)."""
    return _usage_read(tenant_id=tenant.id)[0]


def _usage_under_lock(*, tenant_id) -> int:
    """The tenant's usage, read holding its quota lock (kept until the transaction ends);
    its rows are folded into one as well when they piled up."""
    quota_lock(tenant_id=tenant_id)
    used, rows = _usage_read(tenant_id=tenant_id)
    if rows > USAGE_ROWS_FOLDED_AFTER:
        _usage_fold(tenant_id=tenant_id)
    return used


def _usage_fold(*, tenant_id) -> None:
    """Replace the tenant's committed usage rows (and this transaction's) by their sum, in
    one statement: a reader sees the rows before or after, never half. Rows that other
    transactions add meanwhile are not visible to it and stay as they are. Call holding the
    tenant's quota lock, so that two folds never overlap."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH folded AS (DELETE FROM accounts_tenantusage WHERE tenant_id = %s RETURNING bytes)"
            " INSERT INTO accounts_tenantusage (tenant_id, bytes)"
            " SELECT %s, sum(bytes) FROM folded HAVING sum(bytes) <> 0",
            [tenant_id, tenant_id],
        )


def _usage_read(*, tenant_id) -> tuple[int, int]:
    """The tenant's usage in bytes, and how many rows make it up."""
    usage = TenantUsage.objects.filter(tenant_id=tenant_id).aggregate(used=Sum("bytes", default=0), rows=Count("pk"))
    return usage["used"], usage["rows"]
