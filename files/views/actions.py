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
from django.views.decorators.http import require_POST

from accounts.portal import tenant_page
from files import selectors
from files.models import BlobTier
from files.permissions import can_create
from files.services.files import file_download_url, file_upload
from files.services.folders import folder_create
from files.services.idempotency import UploadOnce
from files.services.lifecycle import FileArchived, FileRetrieving
from files.services.retrieval import file_retrieve
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
    try:
        url = file_download_url(membership=membership, file_id=file_id, ip=client_ip(request))
    except (FileArchived, FileRetrieving) as exc:
        return archived_refusal(request, membership, file_id, exc)
    return HttpResponseRedirect(url)


def archived_refusal(request, membership, file_id, exc: FileArchived | FileRetrieving) -> HttpResponseRedirect:
    """A download of bytes in the archive tier: back to the file's page, which offers
    Retrieve, saying why (the API's message names an endpoint, not a button)."""
    name = exc.files[0].name
    if isinstance(exc, FileRetrieving):
        messages.warning(request, f"“{name}” is being retrieved from the archive; download it once it is back.")
    else:
        messages.warning(
            request, f"“{name}” is archived: its bytes are in long-term storage. Retrieve it first, then download it."
        )
    return redirect(reverse("portal-file", args=[membership.tenant.slug, file_id]))


@require_POST
@tenant_page
def retrieve(request, membership, file_id):
    """Retrieve from the archive (what the API's `retrieve/` does); back to the file's page,
    or with `back=folder` to the folder the file is in."""
    number = int(request.POST["version"]) if request.POST.get("version", "").isdigit() else None
    file_retrieve(membership=membership, file_id=file_id, version=number, ip=client_ip(request))
    file = selectors.file_get_for_actor(membership=membership, file_id=file_id, renditions=False)
    blob = selectors.version_get(file=file, number=number).blob if number else file.current_version.blob
    which = f"Version {number} of “{file.name}”" if number else f"“{file.name}”"
    if blob.tier == BlobTier.HOT:
        messages.success(request, f"{which} is back from the archive; you can download it.")
    else:
        messages.info(request, f"{which} is being retrieved from the archive; you can download it once it is back.")
    if request.POST.get("back") == "folder":
        return back(membership.tenant.slug, str(file.folder_id) if file.folder_id else None)
    return redirect(reverse("portal-file", args=[membership.tenant.slug, file.pk]))
