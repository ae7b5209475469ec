"""Resolving duplicates: one copy kept, the others made its earlier versions or trashed."""

from __future__ import annotations

from accounts.models import Membership
from accounts.services.audit import event_record
from files.models import File
from files.selectors import file_get_for_actor
from files.services.files import file_versions_absorb
from files.services.folders import atomic_or_conflict
from files.services.similar import file_similar
from files.services.trash import file_trash
from mediaportal.exceptions import ValidationFailed, parse_id

ACTIONS = ("versions", "trash")
MAX_OTHERS = 100


def duplicates_resolve(
    *, membership: Membership, keep_id, other_ids: list, action: str, ip: str | None = None
) -> tuple[File, list[File]]:
    """Keep `keep_id` and resolve `other_ids`, all in one transaction: with "trash" the others
    go to the trash; with "versions" their contents are added to the kept file's history
    (oldest first) and the kept content made current again on top, then the others are
    trashed. Each other file must be one `file_similar` finds for the kept one. The caller
    needs change rights on the kept file and delete rights on every other one; a file they
    cannot see is a 404."""
    if action not in ACTIONS:
        raise ValidationFailed(f"action must be one of {', '.join(ACTIONS)}.", code="invalid_action")
    ids = list(dict.fromkeys(parse_id(raw, "File") for raw in other_ids))
    if not ids or len(ids) > MAX_OTHERS:
        raise ValidationFailed(f"others must list 1 to {MAX_OTHERS} files.", code="invalid_others")
    # Every file is fetched (404, 403) before the request's sense is judged.
    keep = file_get_for_actor(membership=membership, file_id=keep_id, perm="change")
    others = [file_get_for_actor(membership=membership, file_id=pk, perm="delete") for pk in ids]
    if keep.pk in ids:
        raise ValidationFailed("The kept file cannot be among the others.", code="invalid_others")
    similar = {match.file.pk for match in file_similar(membership=membership, file_id=keep.pk)[0]}
    strangers = [str(other.pk) for other in others if other.pk not in similar]
    if strangers:
        raise ValidationFailed(
            "These files do not hold the same picture as the kept one: " + ", ".join(strangers) + ".",
            code="not_similar",
        )
    with atomic_or_conflict():
        if action == "versions":
            file_versions_absorb(membership=membership, file=keep, sources=others)
        for other in others:
            file_trash(membership=membership, file_id=other.pk, ip=ip)
        event_record(
            verb="file.duplicates_resolved",
            tenant=membership.tenant,
            actor=membership.user,
            target=keep,
            ip=ip,
            data={"action": action, "others": [str(o.pk) for o in others]},
        )
    keep.refresh_from_db()
    return keep, others
