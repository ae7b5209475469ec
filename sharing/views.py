"""Public pages, no account needed: files with visibility `public` (/p/…) and share links (/s/…)."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET

from files.permissions import can_create
from files.selectors import public_file_get
from files.services.files import blob_download_url, rendition_urls
from files.storage import content_disposition
from files.uploads import HashingUploadHandler, declared_too_large
from files.zipstream import zip_stream
from mediaportal.exceptions import (
    ApplicationError,
    Conflict,
    InsufficientStorage,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from mediaportal.http import client_ip
from sharing.selectors import link_file_in_folder, link_folder_files
from sharing.services import links


def _public_file(file_id):
    try:
        return public_file_get(file_id=file_id)
    except NotFound:
        raise Http404 from None


@require_GET
def public_file(request, file_id):
    file = _public_file(file_id)
    previews = rendition_urls(file=file) if file.status == "completed" else {}
    preview = previews.get("large") or previews.get("medium")
    response = render(request, "sharing/public_file.html", {"file": file, "preview": preview})
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"  # the page URL is the capability; don't leak it
    return response


@require_GET
def public_download(request, file_id):
    file = _public_file(file_id)
    url = blob_download_url(file=file, blob=file.current_version.blob, ip=client_ip(request))
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response


# --- Share links (/s/<token>) ---------------------------------------------------------


def _share_errors(view):
    """Unknown or revoked → 404 page; expired or used up → 410 page; guessing → 429 page."""

    @wraps(view)
    def wrapper(request, token, *args, **kwargs):
        try:
            return view(request, token, *args, **kwargs)
        except NotFound:
            raise Http404 from None
        except links.LinkGone:
            return render(request, "sharing/gone.html", status=410)
        except links.TooManyAttempts:
            response = render(request, "sharing/throttled.html", status=429)
            response["Retry-After"] = str(settings.LOGIN_THROTTLE_WINDOW)
            return response

    return wrapper


def _unlocked(request, link) -> bool:
    # The session remembers which password it was unlocked with: a new password locks it again.
    return not link.password_hash or request.session.get(f"share-{link.pk}") == links.unlock_mark(link)


def _locked_response(request, link, error: str = ""):
    return render(request, "sharing/password.html", {"error": error}, status=401 if error else 200)


@csrf_protect
@_share_errors
def share_page(request, token):
    link = links.link_resolve(token=token, ip=client_ip(request))
    if request.method == "POST":
        if links.link_check_password(link=link, password=request.POST.get("password", ""), ip=client_ip(request)):
            request.session[f"share-{link.pk}"] = links.unlock_mark(link)
            return redirect(request.path)
        return _locked_response(request, link, error="Wrong password.")
    links.link_view(link=link, ip=client_ip(request))
    if not _unlocked(request, link):
        return _locked_response(request, link)
    if link.allow_upload:
        return render(request, "sharing/upload.html", {"link": link, "uploaded": request.GET.get("uploaded")})
    if link.file is not None:
        previews = rendition_urls(file=link.file) if link.file.status == "completed" else {}
        # A link with a download limit previews at thumbnail size: a full-size preview would be
        # an uncounted download.
        kinds = ("thumbnail",) if link.max_downloads is not None else ("large", "medium")
        preview = next((previews[kind] for kind in kinds if kind in previews), None)
        context = {"link": link, "file": link.file, "preview": preview}
    else:
        files = list(link_folder_files(link=link))
        thumbs = {f.pk: rendition_urls(file=f).get("thumbnail") for f in files if f.status == "completed"}
        context = {"link": link, "folder": link.folder, "items": [(f, thumbs.get(f.pk)) for f in files]}
    response = render(request, "sharing/share.html", context)
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _download(request, link, file):
    links.link_count_download(link=link, ip=client_ip(request), file=file)
    url = blob_download_url(file=file, blob=file.current_version.blob, ip=client_ip(request))
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@_share_errors
def share_download(request, token):
    link = links.link_resolve(token=token, ip=client_ip(request))
    if link.file is None:
        raise Http404
    if not _unlocked(request, link):
        return redirect("share-page", token=token)
    return _download(request, link, link.file)


@require_GET
@_share_errors
def share_file_download(request, token, file_id):
    link = links.link_resolve(token=token, ip=client_ip(request))
    if link.folder is None or link.allow_upload:  # upload-only links reveal nothing
        raise Http404
    if not _unlocked(request, link):
        return redirect("share-page", token=token)
    return _download(request, link, link_file_in_folder(link=link, file_id=file_id))


@require_GET
@_share_errors
def share_zip(request, token):
    link = links.link_resolve(token=token, ip=client_ip(request))
    if link.folder is None or link.allow_upload:  # upload-only links reveal nothing
        raise Http404
    if not _unlocked(request, link):
        return redirect("share-page", token=token)
    files = list(link_folder_files(link=link))
    links.link_count_download(link=link, ip=client_ip(request), file=None)
    response = StreamingHttpResponse(zip_stream(link.folder, files), content_type="application/zip")
    response["Content-Disposition"] = content_disposition(f"{link.folder.name}.zip")
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # the CSRF check reads the body: `_share_upload` runs it once the visitor may send it
@_share_errors
def share_upload(request, token):
    # Decided before a byte of the body is read: the link takes uploads, this visitor has
    # unlocked it, its creator may still add files, and the declared size fits.
    link = links.link_resolve(token=token, ip=client_ip(request))
    if not link.allow_upload or not can_create(membership=link.creator_membership):
        raise Http404
    if request.method != "POST" or not _unlocked(request, link):
        return redirect("share-page", token=token)
    limit = link.tenant.max_upload_bytes
    if declared_too_large(request, limit):
        return _upload_refused(request, link, PayloadTooLarge(f"Files are limited to {limit:,} bytes."))
    handler = HashingUploadHandler(request, max_bytes=limit)
    request.upload_handlers = [handler]
    return _share_upload(request, token, link, handler)


def _upload_refused(request, link, exc: ApplicationError):
    return render(request, "sharing/upload.html", {"link": link, "error": exc.detail}, status=exc.status_code)


@csrf_protect
def _share_upload(request, token: str, link, handler: HashingUploadHandler):
    try:
        uploads = request.FILES.getlist("file")
        if handler.too_large:
            raise PayloadTooLarge(f"Files are limited to {link.tenant.max_upload_bytes:,} bytes.")
        if handler.spool_full:
            raise InsufficientStorage()
        if not uploads:
            raise ValidationFailed("Choose a file to upload.")
        for upload in uploads:
            links.link_upload(link=link, upload=upload, ip=client_ip(request))
    except (
        PayloadTooLarge,
        ValidationFailed,
        UnsupportedMediaType,
        Conflict,
        ServiceUnavailable,
        InsufficientStorage,
    ) as exc:
        return _upload_refused(request, link, exc)
    return redirect(reverse("share-page", args=[token]) + f"?uploaded={len(uploads)}")
