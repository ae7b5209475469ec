"""The file page."""

from __future__ import annotations

from django.shortcuts import render

from accounts.portal import tenant_page
from files import selectors
from files.services.files import rendition_urls


@tenant_page
def file_page(request, membership, file_id):
    file = selectors.file_get_for_actor(membership=membership, file_id=file_id)
    urls = rendition_urls(file=file) if file.status == "completed" else {}
    return render(
        request,
        "files/file.html",
        {
            "membership": membership,
            "section": "files",
            "file": file,
            "preview": urls.get("large") or urls.get("medium"),
        },
    )
