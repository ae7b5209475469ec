"""Public pages, no account needed: files with visibility `public` (/p/…) and share links (/s/…)."""

from __future__ import annotations

import uuid
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET

from files.permissions import can_create
from files.selectors import public_file_get
from files.services.files import blob_download_url, rendition_urls
from files.services.lifecycle import (
    FileArchived,
    FileRetrieving,
    blob_readable_or_409,
    files_readable_or_409,
    files_touch,
)
from files.storage import content_disposition
from files.uploads import HashingUploadHandler, declared_too_large
from files.zipstream import zip_stream
from mediaportal.exceptions import (
    ApplicationError,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from mediaportal.http import client_ip
from mediaportal.views import wants_json
from sharing.selectors import link_file_in_folder, link_folder_files
from sharing.services import links

EXCERPT_CHARS = 3000


def _public_file(file_id):
    try:
        return public_file_get(file_id=file_id)
    except NotFound:
        raise Http404 from None


@require_GET
def public_file(request, file_id):
    try:
        file = public_file_get(file_id=file_id)
    except NotFound:
        return _missing(request, what="file")
    previews = rendition_urls(file=file) if file.status == "completed" else {}
    preview = previews.get("large") or previews.get("medium")
    context = {"file": file, "preview": preview, "excerpt": "" if preview else _excerpt(file)}
    return _public(render(request, "sharing/public_file.html", context))


def _excerpt(file) -> str:
    """The start of a document's text, shown where a picture has no preview."""
    return (file.content_text or "")[:EXCERPT_CHARS].strip() if file.status == "completed" else ""


@require_GET
def public_download(request, file_id):
    file = _public_file(file_id)
    try:
        url = blob_download_url(file=file, blob=file.current_version.blob, ip=client_ip(request))
    except (FileArchived, FileRetrieving) as exc:
        return _archived(request, exc)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response


# --- Share links (/s/<token>) ---------------------------------------------------------


def _share_errors(view):
    """Unknown (or its target gone) → 404 page; revoked, expired or used up → 410 page;
    guessing → 429 page, each saying what happened."""

    @wraps(view)
    def wrapper(request, token, *args, **kwargs):
        try:
            return view(request, token, *args, **kwargs)
        except NotFound:
            return _missing(request)
        except (FileArchived, FileRetrieving) as exc:
            return _archived(request, exc)
        except links.LinkGone as exc:
            return _public(render(request, "sharing/gone.html", {"state": exc.state}, status=410))
        except links.TooManyAttempts:
            window = settings.LOGIN_THROTTLE_WINDOW
            response = render(request, "sharing/throttled.html", {"minutes": max(1, -(-window // 60))}, status=429)
            response["Retry-After"] = str(window)
            return _public(response)

    return wrapper


def _archived(request, exc: FileArchived | FileRetrieving):
    """A download of bytes in the archive tier: the visitor cannot retrieve them; the person
    who shared them can (the page says so), and nothing was counted."""
    if wants_json(request):
        return JsonResponse({"detail": exc.detail, "code": exc.code}, status=exc.status_code)
    context = {"files": exc.files, "retrieving": isinstance(exc, FileRetrieving)}
    return _public(render(request, "sharing/archived.html", context, status=exc.status_code))


def _missing(request, what: str = "link"):
    return _public(render(request, "sharing/missing.html", {"what": what}, status=404))


def _public(response, *, form: bool = False):
    response["X-Robots-Tag"] = "noindex"
    # The page URL is the capability: no other site may see it. A page with a form sends it
    # to us, though, for a browser posting under `no-referrer` sends `Origin: null`, which the
    # CSRF check refuses.
    response["Referrer-Policy"] = "same-origin" if form else "no-referrer"
    return response


def _unlocked(request, link) -> bool:
    # The session remembers which password it was unlocked with: a new password locks it again.
    return not link.password_hash or request.session.get(f"share-{link.pk}") == links.unlock_mark(link)


def _locked_response(request, link, error: str = ""):
    context = {"error": error}
    return _public(render(request, "sharing/password.html", context, status=401 if error else 200), form=True)


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
        return _public(render(request, "sharing/upload.html", _upload_context(request, link)), form=True)
    if link.file is not None:
        previews = rendition_urls(file=link.file) if link.file.status == "completed" else {}
        # A link with a download limit previews at thumbnail size: a full-size preview would be
        # an uncounted download.
        kinds = ("thumbnail",) if link.max_downloads is not None else ("large", "medium")
        preview = next((previews[kind] for kind in kinds if kind in previews), None)
        remaining = None if link.max_downloads is None else max(link.max_downloads - link.download_count, 0)
        # The text of a document, likewise, only when downloads are not counted.
        excerpt = _excerpt(link.file) if preview is None and link.max_downloads is None else ""
        context = {"link": link, "file": link.file, "preview": preview, "excerpt": excerpt, "remaining": remaining}
    else:
        context = {"link": link, "folder": link.folder, "items": _folder_items(link)}
    return _public(render(request, "sharing/share.html", {**context, "token": token}))


def _folder_items(link) -> list[tuple]:
    """(file, thumbnail URL, subfolder it is in below the shared folder) for a folder link."""
    items, top = [], link.folder.display_path
    for file in link_folder_files(link=link):
        thumbnail = (
            rendition_urls(file=file, kinds=("thumbnail",)).get("thumbnail") if file.status == "completed" else None
        )
        items.append((file, thumbnail, file.folder.display_path[len(top) :]))
    return items


def _download(request, link, file):
    # Before the count: a refused download must not use up a limited link.
    blob_readable_or_409(blob=file.current_version.blob, file=file)
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
    files_readable_or_409(files)  # the whole ZIP, or none of it (files.services.lifecycle)
    links.link_count_download(link=link, ip=client_ip(request), file=None)
    files_touch(file_ids=[f.pk for f in files])
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


def _upload_context(request, link, **extra) -> dict:
    uploaded = request.GET.get("uploaded", "")
    return {
        "link": link,
        "uploaded": int(uploaded) if uploaded.isdigit() else None,
        "upload_key": uuid.uuid4(),  # a reload sending the form again does not add the files twice
        "max_bytes": link.tenant.max_upload_bytes,
        **extra,
    }


def _upload_refused(request, link, exc: ApplicationError):
    if wants_json(request):
        return JsonResponse({"detail": exc.detail, "code": exc.code}, status=exc.status_code)
    context = _upload_context(request, link, error=exc.detail)
    return _public(render(request, "sharing/upload.html", context, status=exc.status_code), form=True)


@csrf_protect
def _share_upload(request, token: str, link, handler: HashingUploadHandler):
    try:
        uploads = request.FILES.getlist("file")
        handler.raise_if_refused(f"Files are limited to {link.tenant.max_upload_bytes:,} bytes.")
        if not uploads:
            raise ValidationFailed("Choose a file to upload.")
        key = request.headers.get("Idempotency-Key") or request.POST.get("idempotency_key")
        once = links.link_upload_once(link=link, key=key)
        names = [
            links.link_upload(link=link, upload=upload, ip=client_ip(request), once=once.part(i) if once else None).name
            for i, upload in enumerate(uploads)
        ]
    except (NotFound, links.LinkGone, links.TooManyAttempts):
        raise  # the link's own pages (_share_errors)
    except ApplicationError as exc:  # too large, unsupported, over quota, a reused key, ...
        return _upload_refused(request, link, exc)
    if wants_json(request):
        return JsonResponse({"files": [{"name": name} for name in names]}, status=201)
    return redirect(reverse("share-page", args=[token]) + f"?uploaded={len(uploads)}")
