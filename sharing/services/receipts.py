"""Share receipts that reach the link's creator: the mail on a link's first open."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import ActivityEvent
from mediaportal.http import site_url
from sharing.models import ShareLink
from sharing.selectors import network_of

log = logging.getLogger(__name__)


def _page_url(link: ShareLink) -> str:
    """The absolute address of the shared file's (or folder's) page in the portal."""
    slug = link.tenant.slug
    if link.file_id:
        path = reverse("portal-file", args=[slug, link.file_id])
    else:
        path = reverse("portal-folder", args=[slug, link.folder_id])
    return site_url(path)


def first_open_notify(*, share_id: str) -> bool:
    """Mail the creator of the link that it was opened for the first time; whether a mail went.

    Queued once, by the open that set `first_opened_at`, and sent at most once (claimed by
    `first_open_notified_at`); nothing is sent for a link that no longer asks for it, or whose
    creator has gone or has no address.
    """
    # Claimed before sending: a task the broker hands out again (a worker lost after the
    # mail went) finds it claimed. A mail server that fails after the claim costs the mail.
    claimed = ShareLink.objects.filter(
        pk=share_id, notify_on_first_open=True, first_opened_at__isnull=False, first_open_notified_at__isnull=True
    ).update(first_open_notified_at=timezone.now())
    link = ShareLink.objects.select_related("tenant", "file", "folder", "created_by").filter(pk=share_id).first()
    if not claimed or link is None or link.created_by is None or not link.created_by.email:
        return False
    target = link.file or link.folder
    name = target.name if target else "(deleted)"
    # The first open's address, reduced to its network as everywhere a receipt shows one.
    first = (
        ActivityEvent.objects.filter(
            tenant_id=link.tenant_id, target_type="sharelink", target_id=str(link.pk), verb="share.viewed"
        )
        .order_by("at")
        .values_list("ip", flat=True)
        .first()
    )
    network = network_of(first) or "an unknown network"
    when = timezone.localtime(link.first_opened_at)
    body = (
        f"Your share link to “{name}” was opened for the first time.\n\n"
        f"When: {when:%Y-%m-%d %H:%M %Z}\n"
        f"From: {network}\n\n"
        f"See it and the link's receipts: {_page_url(link)}\n"
    )
    send_mail(
        subject=f"Your link to “{name}” was opened",
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[link.created_by.email],
    )
    log.info("first-open mail of share %s sent", link.pk)
    return True
