"""Reads for share links, grants and groups; tenant-scoped, a foreign id is a 404."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime

from django.db.models import CharField, Count, F, Func, Max, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone

from accounts.models import ActivityEvent, Membership, Role, TenantGroup
from files.models import (
    File,
    FileGroupPermission,
    FileUserPermission,
    Folder,
    FolderGroupPermission,
    FolderUserPermission,
)
from files.permissions import GRANTS, share_links_visible, visible_files
from files.selectors import webp_renditions
from mediaportal.exceptions import NotFound, ValidationFailed, parse_id
from sharing.models import ShareLink

GRANT_TABLES = {
    "file": (FileUserPermission, FileGroupPermission),
    "folder": (FolderUserPermission, FolderGroupPermission),
}


def grant_kind(target: File | Folder) -> str:
    return "file" if isinstance(target, File) else "folder"


# --- Share links ------------------------------------------------------------------------


def token_hash(token: str) -> str:
    # Tokens carry 192 random bits, so a fast hash is enough and lookups stay one index probe.
    return hashlib.sha256(token.encode()).hexdigest()


def share_list(*, membership: Membership) -> QuerySet[ShareLink]:
    links = ShareLink.objects.filter(tenant_id=membership.tenant_id).select_related("file", "folder")
    return share_links_visible(membership=membership, links=links)


SHARE_STATES = ("active", "expired", "exhausted", "revoked")


def _in_state(state: str, now) -> Q:
    """ShareLink.state as a filter."""
    revoked = Q(revoked_at__isnull=False)
    expired = Q(expires_at__lte=now)
    exhausted = Q(max_downloads__isnull=False, download_count__gte=F("max_downloads"))
    return {
        "revoked": revoked,
        "expired": ~revoked & expired,
        "exhausted": ~revoked & ~expired & exhausted,
        "active": ~revoked & ~expired & ~exhausted,
    }[state]


def share_list_annotated(*, membership: Membership, state: str | None = None) -> QuerySet[ShareLink]:
    """The links the member may see (as `share_list`), newest first, with who made them and
    `opens`, the visits of their public page; `state` one of SHARE_STATES, or all."""
    if state is not None and state not in SHARE_STATES:
        raise ValidationFailed(f"state must be one of {', '.join(SHARE_STATES)}.", code="invalid_filter")
    opens = (
        ActivityEvent.objects.filter(
            tenant_id=membership.tenant_id,
            verb="share.viewed",
            target_type="sharelink",
            target_id=Cast(OuterRef("pk"), output_field=CharField()),
        )
        .order_by()
        .values("target_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    links = share_list(membership=membership).select_related("created_by", "file__folder")
    if state is not None:
        links = links.filter(_in_state(state, timezone.now()))
    return links.annotate(opens=Coalesce(Subquery(opens), Value(0))).order_by("-created_at", "-id")


def share_get(*, membership: Membership, share_id) -> ShareLink:
    link = share_list(membership=membership).filter(pk=parse_id(share_id, "Share link")).first()
    if link is None:
        raise NotFound("Share link not found.")
    return link


def link_folder_files(*, link: ShareLink) -> QuerySet[File]:
    """Live files anywhere under the shared folder that the link's creator may share.

    A folder link reaches nothing outside its folder, and nothing inside that a file link
    of its creator's could not publish: colleagues' files they can merely see (the folder
    may hold those, and others' private files) stay out. Owners and admins share anything,
    and a share grant on the folder from one of them covers everything below it.
    """
    # visible_files keeps to the creator's tenant (the link's) and to live files.
    files = File.objects.filter(folder__path__startswith=link.folder.path)
    return (
        visible_files(files, membership=link.creator_membership, perm="share")
        .select_related("folder", "current_version__blob")
        .prefetch_related(webp_renditions())
        .order_by("folder__path", "name")
    )


def link_file_in_folder(*, link: ShareLink, file_id) -> File:
    file = link_folder_files(link=link).filter(pk=parse_id(file_id, "File")).first()
    if file is None:
        raise NotFound("Not found.")
    return file


# --- Share receipts ---------------------------------------------------------------------

OPENED, UNLOCKED, REJECTED, THROTTLED = (
    "share.viewed",
    "share.password_accepted",
    "share.password_rejected",
    "share.throttled",
)
DOWNLOADED = ("share.downloaded", "share.zip_downloaded")
# Visitors are shown by network, never by address: enough to tell "the client's office"
# from "somewhere else", too coarse to point at a person.
IPV4_PREFIX, IPV6_PREFIX = 24, 48
RECEIPT_NETWORKS = 100  # the busiest networks a receipt lists
RECEIPT_CSV_ROWS = 10_000  # (day, network) rows an export holds at most
UNKNOWN_NETWORK = "unknown"


def network_of(ip: str | None) -> str | None:
    """The coarse network of an address: "203.0.113.0/24", or an IPv6 /48."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return None
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class _Network(Func):
    """`network_of` in SQL, so addresses are grouped (and dropped) in the database."""

    template = (
        f"network(set_masklen(%(expressions)s, CASE WHEN family(%(expressions)s) = 4 "
        f"THEN {IPV4_PREFIX} ELSE {IPV6_PREFIX} END))::text"
    )
    output_field = CharField()


def _receipt_events(link: ShareLink) -> QuerySet[ActivityEvent]:
    """The visitors' events of a link: its page's (target = the link, on the target index)
    and the downloads through it (which name the file they served; on event_share_downloads)."""
    on_page = Q(target_type="sharelink", target_id=str(link.pk), verb__in=[OPENED, UNLOCKED, REJECTED, THROTTLED])
    downloads = Q(verb__in=DOWNLOADED, data__share=str(link.pk))
    return ActivityEvent.objects.filter(on_page | downloads, tenant_id=link.tenant_id).order_by()


def _counts() -> dict:
    return {
        "opens": Count("id", filter=Q(verb=OPENED)),
        "unlocks": Count("id", filter=Q(verb=UNLOCKED)),
        "downloads": Count("id", filter=Q(verb__in=DOWNLOADED)),
        "wrong_passwords": Count("id", filter=Q(verb=REJECTED)),
        "throttled": Count("id", filter=Q(verb=THROTTLED)),
    }


def _network() -> Coalesce:
    return Coalesce(_Network("ip"), Value(UNKNOWN_NETWORK))


def _latest(*moments: datetime | None) -> datetime | None:
    return max((m for m in moments if m is not None), default=None)


def share_receipts(*, membership: Membership, link: ShareLink | str) -> dict:
    """What the visitors of a link did: totals, per day, per network, first and last open.

    Counted in SQL (two grouped queries whatever the number of events); seen by the link's
    creator and by owners and admins, as the link itself (`share_get`: others get 404).
    """
    link = share_get(membership=membership, share_id=link.pk if isinstance(link, ShareLink) else link)
    events = _receipt_events(link)
    days = list(
        events.annotate(day=TruncDate("at"))
        .values("day")
        .annotate(**_counts(), first_open=Min("at", filter=Q(verb=OPENED)), last_open=Max("at", filter=Q(verb=OPENED)))
        .order_by("day")
    )
    networks = list(
        events.annotate(network=_network())
        .values("network")
        .annotate(**_counts(), last_seen=Max("at"))
        .order_by("-opens", "-last_seen", "network")[:RECEIPT_NETWORKS]
    )
    totals = {key: sum(day[key] for day in days) for key in _counts()}
    first_open = min((day["first_open"] for day in days if day["first_open"]), default=None)
    target = link.file or link.folder
    return {
        "link": link.pk,
        "name": target.name if target else "",
        "opens": totals["opens"],
        "unlocks": totals["unlocks"],
        "downloads": totals["downloads"],
        "refused": {"wrong_password": totals["wrong_passwords"], "throttled": totals["throttled"]},
        # The link's own mark first: it stays when old events are pruned from the audit trail.
        "first_opened_at": link.first_opened_at or first_open,
        "last_opened_at": _latest(*(day["last_open"] for day in days)),
        "by_day": [_receipt_row(day, "day") for day in days],
        "networks": [{**_receipt_row(row, "network"), "last_seen": row["last_seen"]} for row in networks],
    }


def _receipt_row(row: dict, key: str) -> dict:
    return {
        key: row[key],
        "opens": row["opens"],
        "unlocks": row["unlocks"],
        "downloads": row["downloads"],
        "refused": row["wrong_passwords"] + row["throttled"],
    }


def share_receipt_rows(*, membership: Membership, link: ShareLink | str) -> list[dict]:
    """A link's receipts per day and network (the CSV export), at most RECEIPT_CSV_ROWS rows."""
    link = share_get(membership=membership, share_id=link.pk if isinstance(link, ShareLink) else link)
    return list(
        _receipt_events(link)
        .annotate(day=TruncDate("at"), network=_network())
        .values("day", "network")
        .annotate(**_counts(), last_seen=Max("at"))
        .order_by("day", "-opens", "network")[:RECEIPT_CSV_ROWS]
    )


# --- Grants and groups ------------------------------------------------------------------


def grant_list(*, target: File | Folder) -> list[dict]:
    """Grants on the object, one entry per user or group with the rights they hold."""
    kind = grant_kind(target)
    user_table, group_table = GRANT_TABLES[kind]
    grants: dict[str, dict] = {}
    for row in user_table.objects.filter(content_object=target).select_related("user", "permission"):
        entry = grants.setdefault(
            str(row.user_id),
            {
                "id": row.user_id,
                "user": row.user_id,
                "username": row.user.username,
                "group": None,
                "granted_by": row.granted_by_id,
                "permissions": [],
            },
        )
        entry["permissions"].append(row.permission.codename.split("_")[0])
    for row in group_table.objects.filter(content_object=target).select_related("group__tenant_group", "permission"):
        tenant_group = row.group.tenant_group
        entry = grants.setdefault(
            str(tenant_group.pk),
            {
                "id": tenant_group.pk,
                "user": None,
                "username": None,
                "group": tenant_group.pk,
                "granted_by": row.granted_by_id,
                "permissions": [],
            },
        )
        entry["permissions"].append(row.permission.codename.split("_")[0])
    for entry in grants.values():
        entry["permissions"] = [perm for perm in GRANTS if perm in entry["permissions"]]
    return list(grants.values())


def _ancestor_paths(path: str) -> list[str]:
    return [path[: i + 1] for i, char in enumerate(path) if char == "/" and i > 0]


def inherited_grants(*, file: File) -> list[dict]:
    """Grants on the folders above the file that reach it, one entry per folder and
    grantee, nearest folder last: the same rows `files.permissions` counts (live folders,
    effective re-grants, and a grant of someone who is not a root only over what they own)."""
    if file.folder_id is None:
        return []
    managers = Membership.objects.filter(tenant_id=file.tenant_id, role__in=[Role.OWNER, Role.ADMIN]).values("user_id")
    reach = Q(granted_by__isnull=True) | Q(granted_by_id=file.owner_id) | Q(granted_by__in=managers)
    effective = Q(grantor__isnull=True) | Q(grantor__role__in=[Role.EDITOR, Role.ADMIN, Role.OWNER])
    entries: dict[tuple, dict] = {}
    user_table, group_table = GRANT_TABLES["folder"]
    for table, grantee in ((user_table, "user"), (group_table, "group__tenant_group")):
        rows = (
            table.objects.filter(reach, effective)
            .filter(
                content_object__tenant_id=file.tenant_id,
                content_object__deleted_at__isnull=True,
                content_object__path__in=_ancestor_paths(file.folder.path),
            )
            .select_related("content_object", "permission", grantee)
        )
        for row in rows:
            user = getattr(row, "user", None)
            name = user.username if user is not None else row.group.tenant_group.name
            key = (row.content_object.path, "user" if user is not None else "group", name)
            entry = entries.setdefault(
                key, {"folder": row.content_object, "kind": key[1], "name": name, "permissions": []}
            )
            entry["permissions"].append(row.permission.codename.split("_")[0])
    for entry in entries.values():
        entry["permissions"] = [perm for perm in GRANTS if perm in entry["permissions"]]
    return [entries[key] for key in sorted(entries)]


def grantee_by_username(*, membership: Membership, username: str) -> Membership | None:
    """The member of the tenant with exactly this username, if any."""
    return (
        Membership.objects.select_related("user")
        .filter(tenant_id=membership.tenant_id, user__username=username.strip())
        .first()
    )


def group_list(*, membership: Membership) -> QuerySet[TenantGroup]:
    return TenantGroup.objects.filter(tenant_id=membership.tenant_id).select_related("group").order_by("name")


def group_get(*, membership: Membership, group_id) -> TenantGroup:
    group = group_list(membership=membership).filter(pk=parse_id(group_id, "Group")).first()
    if group is None:
        raise NotFound("Group not found.")
    return group
