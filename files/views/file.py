"""The file page of the portal (`portal-file`): preview, metadata, edit, versions, delete.

Every action calls the service the API's endpoint calls (`files.services.files`,
`files.services.trash`), with the same rules (`files.permissions`). The sharing panels
(permissions, share links) and the file's activity belong to `sharing` and `analytics`,
which files may not import: the page loads them with htmx from URLs of those apps.
"""

from __future__ import annotations

import uuid
from fractions import Fraction
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from accounts.portal import tenant_page
from files import selectors
from files.models import File, FileStatus, Visibility
from files.names import MAX_COMMENT_LENGTH, MAX_DESCRIPTION_LENGTH
from files.permissions import file_rights
from files.services.files import (
    file_download_url,
    file_reprocess,
    file_update,
    file_version_restore,
    file_version_upload,
    file_view_url,
    rendition_sources,
)
from files.services.idempotency import UploadOnce
from files.services.lifecycle import FileArchived, FileRetrieving
from files.services.trash import file_trash
from files.uploads import HashingUploadHandler, declared_too_large
from files.views.actions import archived_refusal
from files.views.ocr import has_ocr_text
from mediaportal.exceptions import ApplicationError
from mediaportal.http import client_ip
from mediaportal.viewcounts import view_count

# Bounded so the page stays one size whatever a file's history; the API lists them all.
VERSIONS_SHOWN = 50
EXCERPT_CHARS = 3000
BUSY = (FileStatus.PENDING, FileStatus.PROCESSING)
# Service refusals shown next to the control they concern (the rest above the form).
ERROR_FIELDS = {
    "name_conflict": "name",
    "invalid_name": "name",
    "invalid_tags": "tags",
    "move_not_allowed": "folder",
    "not_found": "folder",
    "visibility_not_allowed": "visibility",
}
VISIBILITY_NAMES = {
    Visibility.PRIVATE: "Private: its owner and people it is granted to",
    Visibility.TENANT: "Team: every member of the team",
    Visibility.PUBLIC: "Public: anyone with its address",
}


class FileEditForm(forms.Form):
    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, max_length=MAX_DESCRIPTION_LENGTH, strip=False)
    tags = forms.CharField(required=False, max_length=2000)
    folder = forms.ChoiceField(required=False)
    visibility = forms.ChoiceField(required=False)

    def __init__(self, *args, folders: list[tuple[str, str]], visibilities: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"].choices = [("", "/ (top level)"), *folders]
        self.fields["visibility"].choices = [(v, VISIBILITY_NAMES[v]) for v in visibilities]

    @classmethod
    def for_file(cls, file: File, **kwargs) -> FileEditForm:
        initial = {
            "name": file.name,
            "description": file.description,
            "tags": ", ".join(file.tags),
            "folder": str(file.folder_id or ""),
            "visibility": file.visibility,
        }
        return cls(initial=initial, **kwargs)


# --- Facts about the file -------------------------------------------------------------


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _shutter(seconds) -> str:
    if not isinstance(seconds, int | float) or seconds <= 0:
        return ""
    if seconds >= 1:
        return f"{seconds:g} s"
    return f"1/{round(1 / Fraction(seconds).limit_denominator(100000))} s"


def _when(value) -> str:
    moment = parse_datetime(value) if isinstance(value, str) else None
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f" {moment:%z}" if moment.tzinfo else "") if moment else ""


def _photo_rows(meta: dict) -> list[tuple[str, str, str | None]]:
    rows = []
    if meta.get("width") and meta.get("height"):
        rows.append(("Dimensions", f"{meta['width']} × {meta['height']}", None))
    camera = " ".join(str(meta[k]) for k in ("camera_make", "camera_model") if meta.get(k))
    if camera:
        rows.append(("Camera", camera, None))
    if meta.get("lens"):
        rows.append(("Lens", str(meta["lens"]), None))
    exposure = [
        _shutter(meta.get("exposure_time")),
        f"f/{_number(meta['f_number'])}" if meta.get("f_number") else "",
        f"ISO {meta['iso']}" if meta.get("iso") else "",
        f"{_number(meta['focal_length'])} mm" if meta.get("focal_length") else "",
    ]
    if any(exposure):
        rows.append(("Exposure", " · ".join(part for part in exposure if part), None))
    if _when(meta.get("taken_at")):
        rows.append(("Taken", _when(meta["taken_at"]), None))
    gps = meta.get("gps")
    if isinstance(gps, dict) and isinstance(gps.get("lat"), int | float) and isinstance(gps.get("lon"), int | float):
        lat, lon = gps["lat"], gps["lon"]
        href = f"https://www.openstreetmap.org/?{urlencode({'mlat': lat, 'mlon': lon})}#map=15/{lat}/{lon}"
        rows.append(("Location", f"{lat:.5f}, {lon:.5f}", href))
    return rows


DOCUMENT_FIELDS = (
    ("page_count", "Pages"),
    ("title", "Title"),
    ("author", "Author"),
    ("subject", "Subject"),
    ("sheets", "Sheets"),
    ("attachment_count", "Attachments"),
    ("charset", "Character set"),
)


def _document_rows(meta: dict) -> list[tuple[str, str, str | None]]:
    rows = []
    for key, label in DOCUMENT_FIELDS:
        value = meta.get(key)
        if value in (None, "", []):
            continue
        rows.append((label, ", ".join(map(str, value)) if isinstance(value, list) else str(value), None))
    if _when(meta.get("created")):
        rows.append(("Document created", _when(meta["created"]), None))
    if meta.get("encrypted") or meta.get("password_required"):
        rows.append(("Encrypted", "yes" + (", needs a password" if meta.get("password_required") else ""), None))
    if meta.get("has_macros"):
        rows.append(("Macros", "yes", None))
    return rows


def metadata_rows(file: File) -> list[tuple[str, str, str | None]]:
    """(label, value, link) rows of the metadata table: what processing found, then the file's own facts."""
    meta = file.metadata if isinstance(file.metadata, dict) else {}
    version = file.current_version
    rows = [
        *_photo_rows(meta),
        *_document_rows(meta),
        ("Size", f"{file.size:,} bytes", None),
        ("Type", file.content_type, None),
        ("SHA-256", file.sha256, None),
        ("Owner", file.owner.username if file.owner else "(former member)", None),
        ("Created", f"{file.created_at:%Y-%m-%d %H:%M}", None),
        ("Modified", f"{file.updated_at:%Y-%m-%d %H:%M}", None),
        ("Version", str(version.number) if version else "—", None),
    ]
    return rows


def _srcset(sources: dict, fmt: str) -> str:
    # A picture smaller than the medium size has medium and large of one width: list it once.
    widths = {
        sources[kind][fmt]["width"]: sources[kind][fmt]["url"]
        for kind in ("large", "medium")
        if fmt in sources.get(kind, {})
    }
    return ", ".join(f"{url} {width}w" for width, url in sorted(widths.items()))


def _preview(file: File) -> dict:
    """What the preview area shows: the state while busy or failed, a picture (an image, a
    document's first page), the PDF viewer, a text excerpt."""
    preview: dict = {"state": file.status, "busy": file.status in BUSY}
    if file.content_type == "application/pdf" and file.current_version_id:
        preview["pdf_url"] = file_view_url(file=file)
    if file.status != FileStatus.COMPLETED:
        return preview
    sources = rendition_sources(renditions=selectors.file_renditions(file=file))
    fallback = sources.get("large", {}).get("jpeg") or sources.get("medium", {}).get("jpeg")
    webp = sources.get("large", {}).get("webp") or sources.get("medium", {}).get("webp")
    if fallback or webp:
        main = fallback or webp
        preview["picture"] = {
            "webp_srcset": _srcset(sources, "webp"),
            "jpeg_srcset": _srcset(sources, "jpeg"),
            "src": main["url"],
            "width": main["width"],
            "height": main["height"],
        }
    if not file.content_type.startswith("image/") and file.content_type != "application/pdf" and file.content_text:
        excerpt = file.content_text[:EXCERPT_CHARS]
        preview["excerpt"] = excerpt + ("…" if len(file.content_text) > EXCERPT_CHARS else "")
    return preview


# --- The page -------------------------------------------------------------------------


def _edit_form(membership, file: File, rights: set[str], data=None) -> FileEditForm:
    # Every choice for those who may share: making a file public also depends on the team's
    # setting, and the service's refusal says why, next to the field.
    visibilities = Visibility.values if "share" in rights else [file.visibility]
    folders = selectors.folder_choices(membership=membership) if "share" in rights else []
    if file.folder_id and str(file.folder_id) not in {pk for pk, _path in folders}:
        folders.append((str(file.folder_id), file.folder.display_path))
    if data is not None:
        return FileEditForm(data, folders=folders, visibilities=visibilities)
    return FileEditForm.for_file(file, folders=folders, visibilities=visibilities)


def _render_page(request, membership, file: File, *, form: FileEditForm | None = None, status: int = 200):
    rights = file_rights(membership=membership, file=file)
    context = {
        "membership": membership,
        "section": "files",
        "file": file,
        "rights": rights,
        "crumbs": _crumbs(file),
        "preview": _preview(file),
        "has_ocr": has_ocr_text(file),
        "query": request.GET.get("q", "")[:200],
        "rows": metadata_rows(file),
        "labels": [label for label in file.labels if isinstance(label, dict) and label.get("name")],
        "form": form or (_edit_form(membership, file, rights) if "change" in rights else None),
        "versions": list(selectors.version_list(file=file)[:VERSIONS_SHOWN]),
        "upload_key": uuid.uuid4(),
        "visibility_name": VISIBILITY_NAMES.get(file.visibility, file.visibility),
    }
    return render(request, "files/file.html", context, status=status)


def _crumbs(file: File) -> list[tuple[str, str]]:
    """(name, folder id) from the top."""
    if file.folder is None:
        return []
    return [(folder.name, str(folder.pk)) for folder in selectors.folder_ancestors(folder=file.folder)]


@require_GET
@tenant_page
def file_page(request, membership, file_id):
    file = selectors.file_get_for_actor(membership=membership, file_id=file_id, renditions=False)
    view_count(tenant_id=membership.tenant_id, user_id=membership.user_id)
    return _render_page(request, membership, file)


@require_GET
@tenant_page
def file_status(request, membership, file_id):
    """The preview, polled by htmx while the file is processed. Once processing is done it
    comes without polling, with the `file-processed` event: file.js then reloads the page
    (metadata and actions change too) unless the member is busy in a form or a dialog."""
    file = selectors.file_get_for_actor(membership=membership, file_id=file_id, renditions=False)
    rights = file_rights(membership=membership, file=file)
    context = {"membership": membership, "file": file, "preview": _preview(file), "rights": rights}
    response = render(request, "files/file/_preview.html", context)
    if file.status not in BUSY:
        response["HX-Trigger"] = "file-processed"
    return response


def _back(membership, file_id) -> HttpResponseRedirect:
    return redirect(reverse("portal-file", args=[membership.tenant.slug, file_id]))


@require_POST
@tenant_page
def file_edit(request, membership, file_id):
    file = selectors.file_get_for_actor(membership=membership, file_id=file_id, perm="change", renditions=False)
    rights = file_rights(membership=membership, file=file)
    form = _edit_form(membership, file, rights, data=request.POST)
    if form.is_valid():
        values = form.cleaned_data
        data = {"name": values["name"], "description": values["description"], "tags": values["tags"]}
        # A control the member may not use is disabled, so the browser does not send it.
        if "folder" in request.POST:
            data["folder"] = values["folder"] or None
        if "visibility" in request.POST and values["visibility"]:
            data["visibility"] = values["visibility"]
        try:
            file_update(membership=membership, file_id=file.pk, data=data, ip=client_ip(request))
        except ApplicationError as exc:
            form.add_error(ERROR_FIELDS.get(exc.code), exc.detail)
        else:
            messages.success(request, "Saved.")
            return _back(membership, file.pk)
    return _render_page(request, membership, file, form=form, status=400)


@require_POST
@tenant_page
def file_delete(request, membership, file_id):
    try:
        file = file_trash(membership=membership, file_id=file_id, ip=client_ip(request))
    except ApplicationError as exc:
        if exc.status_code in (403, 404):
            raise
        messages.error(request, exc.detail)
        return _back(membership, file_id)
    messages.success(request, f"“{file.name}” is in the trash.")
    if file.folder_id:
        return redirect(reverse("portal-folder", args=[membership.tenant.slug, file.folder_id]))
    return redirect(reverse("portal-browse", args=[membership.tenant.slug]))


@require_POST
@tenant_page
def file_reprocess_view(request, membership, file_id):
    try:
        file_reprocess(membership=membership, file_id=file_id, ip=client_ip(request))
    except FileArchived:
        messages.error(request, "The file is archived: retrieve it before processing it again.")
    else:
        messages.success(request, "The file is being processed again.")
    return _back(membership, file_id)


# --- Versions -------------------------------------------------------------------------


@csrf_exempt  # the CSRF check reads the body: `_version_upload` runs it once the caller may send it
@require_POST
@tenant_page
def version_upload(request, membership, file_id):
    # Decided before a byte of the body is read (as the API's versions endpoint does): who
    # is asking, whether they may change this file, and how much they may send.
    file = selectors.file_get_for_actor(membership=membership, file_id=file_id, perm="change", renditions=False)
    limit = membership.tenant.max_upload_bytes
    if declared_too_large(request, limit):
        messages.error(request, f"Files are limited to {limit:,} bytes.")
        return _back(membership, file.pk)
    handler = HashingUploadHandler(request, max_bytes=limit)
    request.upload_handlers = [handler]
    return _version_upload(request, membership, file, handler)


@csrf_protect
def _version_upload(request, membership, file: File, handler: HashingUploadHandler):
    try:
        upload = request.FILES.get("file")
        handler.raise_if_refused(f"Files are limited to {membership.tenant.max_upload_bytes:,} bytes.")
        if upload is None:
            messages.error(request, "Choose the file of the new version.")
            return _back(membership, file.pk)
        comment = request.POST.get("comment", "")[:MAX_COMMENT_LENGTH]
        # The form carries a key of its own, so sending it again adds no second version.
        once = UploadOnce.from_header(request.POST.get("idempotency_key"))
        version = file_version_upload(
            membership=membership, file_id=file.pk, upload=upload, comment=comment, ip=client_ip(request), once=once
        )
        messages.success(request, f"Version {version.number} uploaded; it is being processed.")
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    return _back(membership, file.pk)


@require_POST
@tenant_page
def version_restore(request, membership, file_id, number: int):
    try:
        version = file_version_restore(membership=membership, file_id=file_id, number=number, ip=client_ip(request))
    except FileArchived:
        messages.error(request, f"Version {number} is archived: retrieve it first, then restore it.")
    except ApplicationError as exc:
        if exc.status_code in (403, 404):
            raise
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Version {number} restored as version {version.number}.")
    return _back(membership, file_id)


@require_GET
@tenant_page
def version_download(request, membership, file_id, number: int):
    try:
        url = file_download_url(membership=membership, file_id=file_id, version=number, ip=client_ip(request))
    except (FileArchived, FileRetrieving) as exc:
        return archived_refusal(request, membership, file_id, exc)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response
