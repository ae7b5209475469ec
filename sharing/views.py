"""Public pages: files whose visibility is `public` can be viewed and downloaded without an account."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from files.services.files import blob_download_url, rendition_urls
from mediaportal.http import client_ip
from sharing.selectors import public_file_get


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
