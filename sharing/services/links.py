"""Share links: create, edit, revoke, and use (from the public pages)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Membership
from accounts.services.audit import event_record
from files.models import File
from files.permissions import can_share
from files.selectors import file_get_for_actor, folder_get
from files.services.files import file_upload
from files.services.idempotency import UploadOnce
from mediaportal import ratelimit
from mediaportal.events import event_publish
from mediaportal.exceptions import ApplicationError, Forbidden, NotFound, ValidationFailed
from mediaportal.http import site_url
from mediaportal.queries import one_or_none
from sharing.models import ShareLink
from sharing.selectors import network_of, share_get, token_hash

log = logging.getLogger(__name__)

DEFAULT_EXPIRY = timedelta(days=7)
TOKEN_BYTES = 24  # 192 bits: unguessable, and short enough for a URL


class LinkGone(ApplicationError):
    status_code = 410
    default_code = "link_gone"
    default_detail = "This link has expired or reached its download limit."

    def __init__(self, detail: str | None = None, *, state: str = "expired", **kwargs) -> None:
        super().__init__(detail, **kwargs)
        self.state = state  # what the visitor's page says: expired, exhausted or revoked


class TooManyAttempts(ApplicationError):
    status_code = 429
    default_code = "throttled"
    default_detail = "Too many attempts. Try again later."


def share_url(token: str) -> str:
    return site_url(f"/s/{token}")


def _check_expiry(membership: Membership, expires_at: datetime | None) -> datetime:
    now = timezone.now()
    expires_at = expires_at or now + DEFAULT_EXPIRY
    if expires_at <= now:
        raise ValidationFailed("expires_at must be in the future.", code="invalid_expiry")
    limit = now + timedelta(days=membership.tenant.share_max_days)
    if expires_at > limit:
        raise ValidationFailed(
            f"Links in this tenant expire within {membership.tenant.share_max_days} days.", code="expiry_too_far"
        )
    return expires_at


@transaction.atomic
def share_create(
    *,
    membership: Membership,
    file_id=None,
    folder_id=None,
    expires_at: datetime | None = None,
    password: str = "",
    max_downloads: int | None = None,
    allow_upload: bool = False,
    notify_on_first_open: bool = False,
    ip: str | None = None,
) -> tuple[ShareLink, str]:
    """Create a link to a file or a folder; returns it with its token (shown only now)."""
    if bool(file_id) == bool(folder_id):
        raise ValidationFailed("Share exactly one file or one folder.", code="invalid_target")
    if allow_upload and not folder_id:
        raise ValidationFailed("Only folder links can take uploads.", code="invalid_target")
    if file_id:
        target = {"file": file_get_for_actor(membership=membership, file_id=file_id, perm="share")}
    else:
        folder = folder_get(membership=membership, folder_id=folder_id)
        if not can_share(membership=membership, target=folder):
            raise Forbidden("You may not share this folder.")
        target = {"folder": folder}
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ShareLink.objects.create(
        tenant=membership.tenant,
        token_hash=token_hash(token),
        expires_at=_check_expiry(membership, expires_at),
        password_hash=make_password(password) if password else "",
        max_downloads=max_downloads,
        allow_upload=allow_upload,
        notify_on_first_open=notify_on_first_open,
        created_by=membership.user,
        **target,
    )
    event_record(verb="share.created", tenant=membership.tenant, actor=membership.user, target=link, ip=ip)
    return link, token


@transaction.atomic
def share_update(*, membership: Membership, share_id, data: dict, ip: str | None = None) -> ShareLink:
    link = share_get(membership=membership, share_id=share_id)
    fields = []
    if "expires_at" in data:
        link.expires_at = _check_expiry(membership, data["expires_at"])
        fields.append("expires_at")
    if "password" in data:
        link.password_hash = make_password(data["password"]) if data["password"] else ""
        fields.append("password_hash")
    if "max_downloads" in data:
        link.max_downloads = data["max_downloads"]
        fields.append("max_downloads")
    if "notify_on_first_open" in data:
        link.notify_on_first_open = data["notify_on_first_open"]
        fields.append("notify_on_first_open")
    if fields:
        link.save(update_fields=fields)
        event_record(verb="share.updated", tenant=membership.tenant, actor=membership.user, target=link, ip=ip)
    return link


@transaction.atomic
def share_revoke(*, membership: Membership, share_id, ip: str | None = None) -> None:
    link = share_get(membership=membership, share_id=share_id)
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        event_record(verb="share.revoked", tenant=membership.tenant, actor=membership.user, target=link, ip=ip)


# --- Using a link (public, no account) ----------------------------------------------


def unlock_mark(link: ShareLink) -> str:
    """What a browser session keeps once it gave the link's password: derived from the
    password's hash, so that changing the password locks every session out again."""
    return hashlib.sha256(f"unlock:{link.pk}:{link.password_hash}".encode()).hexdigest()[:32]


def _password_limits(link: ShareLink, ip: str | None) -> list[ratelimit.Limit]:
    # Per address, and per link across all addresses (so many addresses cannot share the
    # guessing). The second lets anyone lock a link's password form for a window: the price
    # of keeping a weak password from being guessed by a botnet.
    window = settings.LOGIN_THROTTLE_WINDOW
    return [
        ratelimit.Limit(
            f"share-password:{link.pk}:{ratelimit.hashed(ip or 'unknown')}", settings.SHARE_PASSWORD_ATTEMPTS, window
        ),
        ratelimit.Limit(f"share-password:{link.pk}", settings.SHARE_PASSWORD_ATTEMPTS_PER_LINK, window),
    ]


def _guess_limit(ip: str | None) -> ratelimit.Limit:
    return ratelimit.Limit(
        f"share-guess:{ratelimit.hashed(ip or 'unknown')}",
        settings.SHARE_TOKEN_GUESSES_PER_IP,
        settings.LOGIN_THROTTLE_WINDOW,
    )


def _throttled(*, link: ShareLink | None, ip: str | None, reason: str) -> TooManyAttempts:
    event_record(
        verb="share.throttled",
        tenant=link.tenant if link else None,
        target=link,
        ip=ip,
        data={"reason": reason, **({"share": str(link.pk)} if link else {})},
    )
    return TooManyAttempts()


def _link_access(*, link: ShareLink, verb: str, ip: str | None) -> None:
    """One activity event per access of a link, and its last_accessed_at."""
    with transaction.atomic():
        ShareLink.objects.filter(pk=link.pk).update(last_accessed_at=timezone.now())
        event_record(verb=verb, tenant=link.tenant, target=link, ip=ip, data={"share": str(link.pk)})


def _creator_membership(link: ShareLink) -> Membership | None:
    """The link's creator's membership if they may still share its target (a link is theirs to give)."""
    members = Membership.objects.select_related("tenant", "user").filter(
        tenant_id=link.tenant_id, user_id=link.created_by_id
    )
    membership = one_or_none(members)
    if membership is None:
        return None
    return membership if can_share(membership=membership, target=link.file or link.folder) else None


def link_resolve(*, token: str, ip: str | None) -> ShareLink:
    """The link behind a token: 404 unknown or its target gone, 410 revoked, expired or used up.

    Repeated unknown tokens from one address are throttled (429), so tokens cannot be guessed.
    A link is also 404 once its creator has left the tenant or lost the share right on its
    target: checked on every use, with the creator's membership kept as
    `link.creator_membership` (a folder link shows only what the creator may see).
    """
    guesses = _guess_limit(ip)
    if ratelimit.retry_after([guesses]):
        raise _throttled(link=None, ip=ip, reason="token_guessing")
    link = one_or_none(
        ShareLink.objects.select_related("file", "folder", "tenant").filter(token_hash=token_hash(token))
    )
    if link is None:
        if ratelimit.take([guesses]).retry_after:
            raise _throttled(link=None, ip=ip, reason="token_guessing")
        raise NotFound("This link does not exist.")
    target = link.file or link.folder
    if target is None or target.deleted_at is not None:
        raise NotFound("This link does not exist.")
    # The visitor holds the token, so saying that it was revoked tells them nothing new, and
    # spares them asking whether they copied it wrong.
    if link.state != "active":
        raise LinkGone("This link was revoked." if link.state == "revoked" else None, state=link.state)
    link.creator_membership = _creator_membership(link)
    if link.creator_membership is None:
        raise NotFound("This link does not exist.")
    return link


def _target_data(link: ShareLink, file: File | None = None) -> dict:
    """What a domain event about a visit says about the link and what it served."""
    target = file or link.file or link.folder
    data = {"share": str(link.pk), "name": target.name if target else ""}
    if file is not None or link.file_id:
        data["file"] = str(file.pk if file is not None else link.file_id)
    if link.folder_id:
        data["folder"] = str(link.folder_id)
    return data


def _queue_first_open_mail(share_id: str) -> None:
    # After commit, on the visitor's request: a broker that is down costs the creator the
    # mail (logged), never the visitor the page.
    try:
        current_app.send_task("sharing.notify_first_open", args=[share_id])
    except Exception:
        log.exception("could not queue the first-open mail of share %s", share_id)


def link_view(*, link: ShareLink, ip: str | None) -> None:
    """Record a visit to the link's page; the first one marks `first_opened_at` and, when the
    creator asked, mails them.

    A hot path: while the link was never opened, one UPDATE both marks the first open (only
    where it is still empty, so of two concurrent first visits one wins) and touches
    `last_accessed_at`; after that, the usual UPDATE of `last_accessed_at` alone.
    """
    now = timezone.now()
    with transaction.atomic():
        first = link.first_opened_at is None and bool(
            ShareLink.objects.filter(pk=link.pk, first_opened_at__isnull=True).update(
                first_opened_at=now, last_accessed_at=now
            )
        )
        if first:
            link.first_opened_at = now
            event_record(verb="share.viewed", tenant=link.tenant, target=link, ip=ip, data={"share": str(link.pk)})
            if link.notify_on_first_open:
                transaction.on_commit(lambda: _queue_first_open_mail(str(link.pk)))
        else:
            _link_access(link=link, verb="share.viewed", ip=ip)
        event_publish(
            tenant_id=link.tenant_id,
            event="share.opened",
            data={**_target_data(link), "first": first, "network": network_of(ip)},
        )


def link_check_password(*, link: ShareLink, password: str, ip: str | None) -> bool:
    """Check a visitor's password, throttled per address and per link (429 past either)."""
    taken = ratelimit.take(_password_limits(link, ip))
    if taken.retry_after:
        raise _throttled(link=link, ip=ip, reason="password")
    accepted = check_password(password, link.password_hash)
    if accepted:
        ratelimit.give_back(taken)  # a right password is not a failure
    _link_access(link=link, verb="share.password_accepted" if accepted else "share.password_rejected", ip=ip)
    return accepted


def link_count_download(*, link: ShareLink, ip: str | None, file: File | None) -> None:
    """Count one download, atomically: concurrent downloads can never pass max_downloads."""
    now = timezone.now()
    allowed = Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads"))
    with transaction.atomic():
        updated = ShareLink.objects.filter(allowed, pk=link.pk, revoked_at__isnull=True, expires_at__gt=now).update(
            download_count=F("download_count") + 1, last_accessed_at=now
        )
        if not updated:
            now_link = ShareLink.objects.filter(pk=link.pk).first()
            raise LinkGone(state=now_link.state if now_link else "expired")
        event_record(
            verb="share.downloaded" if file else "share.zip_downloaded",
            tenant=link.tenant,
            target=file or link.folder,
            ip=ip,
            data={"share": str(link.pk)},
        )
        event_publish(
            tenant_id=link.tenant_id,
            event="share.downloaded",
            data={**_target_data(link, file), "zip": file is None, "network": network_of(ip)},
        )


def link_upload_once(*, link: ShareLink, key: str | None) -> UploadOnce | None:
    """A visitor's `Idempotency-Key`, kept apart from the creator's own keys: the upload is
    made as the link's creator, whose keys are scoped to their user (files.services.idempotency)."""
    once = UploadOnce.from_header(key)
    return None if once is None else UploadOnce(key=f"share:{link.pk}:{once.key}"[:255])


def link_upload(*, link: ShareLink, upload, ip: str | None, once: UploadOnce | None = None) -> File:
    """A visitor adds a file through an upload-only folder link, as the link's creator.

    With `once` (link_upload_once), sending the same file again with the same key returns
    the first upload's file (`once.replayed`) instead of adding "name (1).ext".
    """
    if not link.allow_upload or link.folder is None:
        raise NotFound("This link does not take uploads.")
    file = file_upload(
        membership=link.creator_membership,
        upload=upload,
        folder_id=link.folder_id,
        on_conflict="rename",
        ip=ip,
        once=once,
    )
    if once is not None and once.replayed:
        return file
    event_record(verb="share.uploaded", tenant=link.tenant, target=file, ip=ip, data={"share": str(link.pk)})
    return file
