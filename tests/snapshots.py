"""What a user of a tenant would miss after a restore, read with plain SQL (so the drills
can read a database of their own through psycopg2 as well as the test database)."""

from __future__ import annotations

QUERIES = {
    "members": """
        SELECT u.username, u.email, m.role FROM accounts_membership m JOIN accounts_user u ON u.id = m.user_id
        WHERE m.tenant_id = %(t)s ORDER BY 1""",
    "groups": """
        SELECT g.name, array_agg(u.username ORDER BY u.username) FILTER (WHERE u.username IS NOT NULL)
        FROM accounts_tenantgroup g
        LEFT JOIN accounts_user_groups ug ON ug.group_id = g.group_id LEFT JOIN accounts_user u ON u.id = ug.user_id
        WHERE g.tenant_id = %(t)s GROUP BY g.id, g.name ORDER BY 1""",
    "folders": """
        SELECT id::text, parent_id::text, name, path, deleted_at IS NOT NULL, trashed_via_id::text
        FROM files_folder WHERE tenant_id = %(t)s ORDER BY 1""",
    "files": """
        SELECT f.id::text, f.name, f.folder_id::text, o.username, f.visibility, f.description, f.tags,
               f.labels::text, f.metadata::text, f.deleted_at IS NOT NULL, f.trashed_via_id::text, v.number, f.sha256, f.size
        FROM files_file f LEFT JOIN accounts_user o ON o.id = f.owner_id
        LEFT JOIN files_fileversion v ON v.id = f.current_version_id
        WHERE f.tenant_id = %(t)s ORDER BY 1""",
    "versions": """
        SELECT v.file_id::text, v.number, b.sha256, b.size, b.content_type, u.username, v.comment
        FROM files_fileversion v JOIN files_blob b ON b.id = v.blob_id
        LEFT JOIN accounts_user u ON u.id = v.uploaded_by_id
        WHERE v.tenant_id = %(t)s ORDER BY 1, 2""",
    "blobs": "SELECT sha256, size, tier FROM files_blob WHERE tenant_id = %(t)s ORDER BY 1",
}


def tenant_snapshot(cursor, tenant_id) -> dict[str, list[tuple]]:
    snapshot = {}
    for name, sql in QUERIES.items():
        cursor.execute(sql, {"t": str(tenant_id)})
        snapshot[name] = [tuple(row) for row in cursor.fetchall()]
    return snapshot


def usage_and_stored(cursor, tenant_id) -> tuple[int, int]:
    """The tenant's usage (its TenantUsage rows) and the bytes its blobs hold: the same
    when the quota counts right."""
    cursor.execute("SELECT coalesce(sum(bytes), 0) FROM accounts_tenantusage WHERE tenant_id = %s", [str(tenant_id)])
    usage = cursor.fetchone()[0]
    cursor.execute("SELECT coalesce(sum(size), 0) FROM files_blob WHERE tenant_id = %s", [str(tenant_id)])
    return usage, cursor.fetchone()[0]
