"""Portal actions on a tenant's files and folders: upload, new folder, rename, move, trash
and download. Each answers with a redirect back to the page it came from (errors as messages).

They call the same selectors and services as the API, with the same rules.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from accounts.portal import tenant_page
from files.permissions import can_create
from files.services.files import file_download_url, file_upload
from files.services.folders import folder_create
from files.services.idempotency import UploadOnce
from files.uploads import HashingUploadHandler, declared_too_large
from mediaportal.exceptions import ApplicationError
from mediaportal.http import client_ip


def back(tenant_slug: str, folder_id: str | None) -> HttpResponseRedirect:
    if folder_id:
        return redirect(reverse("portal-folder", args=[tenant_slug, folder_id]))
    return redirect(reverse("portal-browse", args=[tenant_slug]))


@csrf_exempt  # the CSRF check reads the body: `_upload` runs it once the caller may send it
@tenant_page
def upload(request, membership):
    tenant_slug = membership.tenant.slug
    folder_id = request.GET.get("folder") or None
    if request.method != "POST":
        return back(tenant_slug, None)
    # Decided before a byte of the body is read: who is asking (above), whether they may
    # upload here, and how much they may send.
    limit = membership.tenant.max_upload_bytes
    if not can_create(membership=membership):
        messages.error(request, "Viewers cannot upload files.")
        return back(tenant_slug, folder_id)
    if declared_too_large(request, limit):
        messages.error(request, f"Files are limited to {limit:,} bytes.")
        return back(tenant_slug, folder_id)
    handler = HashingUploadHandler(request, max_bytes=limit)
    request.upload_handlers = [handler]
    return _upload(request, membership, handler, folder_id)


@csrf_protect
def _upload(request, membership, handler: HashingUploadHandler, folder_id: str | None):
    try:
        uploads = request.FILES.getlist("file")
        handler.raise_if_refused(f"Files are limited to {membership.tenant.max_upload_bytes:,} bytes.")
        if not uploads:
            messages.error(request, "Choose a file to upload.")
        # The page's form carries a key of its own, so sending it again (a reload, a retry
        # after a timeout) does not upload the files twice; API-style clients send the header.
        once = UploadOnce.from_header(request.headers.get("Idempotency-Key") or request.POST.get("idempotency_key"))
        for index, uploaded in enumerate(uploads):
            part = once.part(index) if once is not None else None
            file = file_upload(
                membership=membership, upload=uploaded, folder_id=folder_id, ip=client_ip(request), once=part
            )
            if part is not None and part.replayed:
                messages.info(request, f"“{file.name}” was uploaded already.")
            else:
                messages.success(request, f"Uploaded “{file.name}”; it is being processed.")
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    return back(membership.tenant.slug, folder_id)


@tenant_page
def new_folder(request, membership):
    tenant_slug = membership.tenant.slug
    parent_id = request.GET.get("folder") or None
    if request.method == "POST":
        try:
            folder = folder_create(
                membership=membership, name=request.POST.get("name", ""), parent_id=parent_id, ip=client_ip(request)
            )
            return back(tenant_slug, str(folder.pk))
        except ApplicationError as exc:
            messages.error(request, exc.detail)
    return back(tenant_slug, parent_id)


@tenant_page
def download(request, membership, file_id):
    return HttpResponseRedirect(file_download_url(membership=membership, file_id=file_id, ip=client_ip(request)))
