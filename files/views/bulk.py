"""The browse page's bulk bar: move, tag, trash or download as a ZIP the chosen files, or
every file in the folder. Each file is checked by the service acting on it; refusals are
reported and the others proceed."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import StreamingHttpResponse
from django.views.decorators.http import require_POST

from accounts.portal import tenant_page
from files.selectors import folder_get
from files.services import bulk
from files.storage import content_disposition
from files.views.actions import back
from files.zipstream import zip_stream
from mediaportal.exceptions import ApplicationError, ValidationFailed
from mediaportal.http import client_ip

VERBS = {"move": "moved", "tag": "tagged", "trash": "moved to the trash"}


@require_POST
@tenant_page
def bulk_action(request, membership):
    action = request.POST.get("action", "")
    folder_id = request.POST.get("folder") or None
    ip = client_ip(request)
    try:
        selected = bulk.files_selected(
            membership=membership,
            file_ids=request.POST.getlist("ids"),
            folder_id=folder_id,
            whole_folder=request.POST.get("all") == "1",
        )
        if action == "zip":
            files = bulk.bulk_bounded(selected, limit=settings.PORTAL_ZIP_MAX_FILES)
            return _zip(membership, files, folder_id, ip)
        files = bulk.bulk_bounded(selected)
        if action == "move":
            result = bulk.files_bulk_move(
                membership=membership, files=files, folder_id=request.POST.get("target") or None, ip=ip
            )
        elif action == "tag":
            result = bulk.files_bulk_tag(membership=membership, files=files, tags=request.POST.get("tags", ""), ip=ip)
        elif action == "trash":
            result = bulk.files_bulk_trash(membership=membership, files=files, ip=ip)
        else:
            raise ValidationFailed("Choose an action.", code="invalid")
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return back(membership.tenant.slug, folder_id)
    level = messages.WARNING if result.refused else messages.SUCCESS
    messages.add_message(request, level, result.summary(VERBS[action]))
    return back(membership.tenant.slug, folder_id)


def _zip(membership, files, folder_id, ip) -> StreamingHttpResponse:
    files = bulk.files_zip_download(membership=membership, files=files, ip=ip)
    name = folder_get(membership=membership, folder_id=folder_id).name if folder_id else membership.tenant.name
    # Streamed from S3 file by file (files.zipstream): memory stays flat whatever the total.
    response = StreamingHttpResponse(zip_stream(None, files), content_type="application/zip")
    response["Content-Disposition"] = content_disposition(f"{name}.zip")
    response["Cache-Control"] = "no-store"
    return response
