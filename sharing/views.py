"""Public pages, no account needed: files with visibility `public` (/p/…) and share links (/s/…)."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET

from files.services.files import blob_download_url, rendition_urls
from files.storage import content_disposition
from mediaportal.exceptions import NotFound
from mediaportal.http import client_ip
from sharing import services
from sharing.selectors import public_file_get
from sharing.zipstream import zip_stream


@require_GET
def public_file(request, file_id):
    file = public_file_get(file_id=file_id)
    previews = rendition_urls(file=file) if file.status == "completed" else {}
    preview = previews.get("large") or previews.get("medium")
    response = render(request, "sharing/public_file.html", {"file": file, "preview": preview})
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"  # the page URL is the capability; don't leak it
    return response


@require_GET
def public_download(request, file_id):
    file = public_file_get(file_id=file_id)
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
        except services.LinkGone:
            return render(request, "sharing/gone.html", status=410)
        except services.TooManyAttempts:
            response = render(request, "sharing/throttled.html", status=429)
            response["Retry-After"] = str(settings.LOGIN_THROTTLE_WINDOW)
            return response

    return wrapper


def _unlocked(request, link) -> bool:
    return not link.password_hash or request.session.get(f"share-{link.pk}") is True


def _locked_response(request, link, error: str = ""):
    return render(request, "sharing/password.html", {"error": error}, status=401 if error else 200)


@csrf_protect
@_share_errors
def share_page(request, token):
    link = services.link_resolve(token=token, ip=client_ip(request))
    if request.method == "POST":
        if services.link_check_password(link=link, password=request.POST.get("password", ""), ip=client_ip(request)):
            request.session[f"share-{link.pk}"] = True
            return redirect(request.path)
        return _locked_response(request, link, error="Wrong password.")
    if not _unlocked(request, link):
        return _locked_response(request, link)
    if link.file is not None:
        previews = rendition_urls(file=link.file) if link.file.status == "completed" else {}
        context = {"link": link, "file": link.file, "preview": previews.get("large") or previews.get("medium")}
    else:
        files = list(services.link_folder_files(link=link))
        thumbs = {f.pk: rendition_urls(file=f).get("thumbnail") for f in files if f.status == "completed"}
        context = {"link": link, "folder": link.folder, "items": [(f, thumbs.get(f.pk)) for f in files]}
    response = render(request, "sharing/share.html", context)
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _download(request, link, file):
    services.link_count_download(link=link, ip=client_ip(request), file=file)
    url = blob_download_url(file=file, blob=file.current_version.blob, ip=client_ip(request))
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@_share_errors
def share_download(request, token):
    link = services.link_resolve(token=token, ip=client_ip(request))
    if link.file is None:
        raise Http404
    if not _unlocked(request, link):
        return redirect("share-page", token=token)
    return _download(request, link, link.file)


@require_GET
@_share_errors
def share_file_download(request, token, file_id):
    link = services.link_resolve(token=token, ip=client_ip(request))
    if link.folder is None:
        raise Http404
    if not _unlocked(request, link):
        return redirect("share-page", token=token)
    return _download(request, link, services.link_file_in_folder(link=link, file_id=file_id))


@require_GET
@_share_errors
def share_zip(request, token):
    link = services.link_resolve(token=token, ip=client_ip(request))
    if link.folder is None:
        raise Http404
    if not _unlocked(request, link):
        return redirect("share-page", token=token)
    files = list(services.link_folder_files(link=link))
    services.link_count_download(link=link, ip=client_ip(request), file=None)
    response = StreamingHttpResponse(zip_stream(link.folder, files), content_type="application/zip")
    response["Content-Disposition"] = content_disposition(f"{link.folder.name}.zip")
    response["Cache-Control"] = "no-store"
    return response
