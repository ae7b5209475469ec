"""The browse page: a folder's subfolders and files in a grid or a list, sorted, one keyset
page at a time (the next page fetched as the end scrolls into view), with the folder tree
beside it and the live status of files still being processed.

Reads go through files.selectors with the visibility rule of files.permissions; the page's
query count does not depend on how many files it shows (tests/files/test_portal_browse.py).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from accounts.portal import tenant_page
from files import selectors
from files.models import File, FileStatus, Folder
from files.permissions import can_change_folder, can_create, file_ids_visible_to
from files.services.files import rendition_url
from files.services.thumbnails import thumbnail_formats, thumbnail_urls
from mediaportal.exceptions import ValidationFailed

PAGE_SIZE = 48
VIEWS = ("grid", "list")
VIEW_COOKIE = "browse_view"
SORT_LABELS = {"name": "Name", "modified": "Modified", "size": "Size", "type": "Type"}
BUSY = (FileStatus.PENDING, FileStatus.PROCESSING)


@dataclass
class Item:
    """A file as a tile or row shows it: its page, and its thumbnail once processed.

    The WebP thumbnail (what browsers load) is presigned on the page; the JPEG fallback is
    the address of a redirect to it, signed only by the rare browser that asks, which halves
    the page's signing (bench/portal.py).
    """

    file: File
    url: str
    webp: str | None = None
    img: str | None = None
    highlight: str = ""

    @property
    def busy(self) -> bool:
        return self.file.status in BUSY


def _items(files, tenant_slug: str) -> list[Item]:
    # Links are built from one reversed prefix: reversing two URLs per file was a visible
    # part of the page's time.
    base = reverse("portal-browse", args=[tenant_slug]) + "files/"
    items = []
    for file in files:
        formats = thumbnail_formats(file=file)
        webp = thumbnail_urls(file=file, formats=("webp",)).get("webp") if "webp" in formats else None
        img = f"{base}{file.pk}/thumbnail/jpeg/" if "jpeg" in formats else webp
        items.append(Item(file=file, url=f"{base}{file.pk}/", webp=webp, img=img))
    return items


# --- The cursor: opaque to the browser, the (key, id) of the last file shown ----------


def _cursor_encode(file: File, sort: str) -> str:
    key = file.sort_key.isoformat() if sort == "modified" else file.sort_key
    raw = json.dumps([key, str(file.pk)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(raw: str, sort: str) -> tuple:
    try:
        key, pk = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(key, int if sort == "size" else str) or isinstance(key, bool):
            raise ValueError(key)
        if sort == "modified":
            key = parse_datetime(key)
            if key is None:
                raise ValueError(raw)
        return key, uuid.UUID(pk)
    except (ValueError, TypeError):
        raise ValidationFailed("Invalid cursor.", code="invalid_cursor") from None


@dataclass
class Listing:
    """What the listing shows: view, order, one page of items and where the next begins."""

    view: str
    sort: str
    descending: bool
    items: list[Item]
    next_cursor: str | None
    poll_id: str

    @property
    def busy(self) -> list[File]:
        return [item.file for item in self.items if item.busy]

    @property
    def order(self) -> str:
        return "desc" if self.descending else "asc"

    def query(self, **extra) -> str:
        """This listing's query string (view and order), with `extra` parameters."""
        params = {"view": self.view, "sort": self.sort, "order": self.order, **extra}
        return urlencode({key: value for key, value in params.items() if value})

    @property
    def grid_query(self) -> str:
        return self.query(view="grid")

    @property
    def list_query(self) -> str:
        return self.query(view="list")

    @property
    def next_query(self) -> str:
        return self.query(cursor=self.next_cursor)

    @property
    def next_partial_query(self) -> str:
        return self.query(cursor=self.next_cursor, partial="page")

    @property
    def refresh_query(self) -> str:
        return self.query(partial="listing")

    def sort_query(self, key: str) -> str:
        """The query of the column header `key`: sorts by it, or reverses it when it is the sort."""
        order = "desc" if key == self.sort and not self.descending else "asc"
        return urlencode({"view": self.view, "sort": key, "order": order})

    @property
    def headers(self) -> dict[str, dict[str, str]]:
        """Per sortable column of the list: the query its header links to, its aria-sort."""
        state = "descending" if self.descending else "ascending"
        return {
            key: {"query": self.sort_query(key), "aria_sort": state if key == self.sort else "none"}
            for key in SORT_LABELS
        }


def _listing(request, membership, folder: Folder | None, visible=None) -> Listing:
    view = request.GET.get("view") or request.COOKIES.get(VIEW_COOKIE)
    view = view if view in VIEWS else "grid"
    sort = request.GET.get("sort") if request.GET.get("sort") in SORT_LABELS else "name"
    descending = request.GET.get("order") == "desc"
    after = _cursor_decode(request.GET["cursor"], sort) if request.GET.get("cursor") else None
    files = selectors.file_browse_page(
        membership=membership,
        folder=folder,
        sort=sort,
        descending=descending,
        after=after,
        limit=PAGE_SIZE + 1,
        visible=visible,
    )
    more = len(files) > PAGE_SIZE
    files = files[:PAGE_SIZE]
    return Listing(
        view=view,
        sort=sort,
        descending=descending,
        items=_items(files, membership.tenant.slug),
        next_cursor=_cursor_encode(files[-1], sort) if more else None,
        poll_id=uuid.uuid4().hex[:12],
    )


# --- The folder tree --------------------------------------------------------------------


@dataclass
class Node:
    folder: Folder
    children: list[Node] | None  # None: not loaded (expanded lazily)
    current: bool = False


def _tree(membership, chain: list[Folder]) -> list[Node]:
    """The root's folders, and the children of each folder on the way to the current one."""
    rows = selectors.folder_tree(membership=membership, parent_ids=[None, *(f.pk for f in chain)])
    by_parent: dict = {}
    for row in rows:
        by_parent.setdefault(row.parent_id, []).append(row)
    open_ids = {f.pk for f in chain}
    current = chain[-1].pk if chain else None

    def nodes(parent_id) -> list[Node]:
        return [
            Node(folder=f, children=nodes(f.pk) if f.pk in open_ids else None, current=f.pk == current)
            for f in by_parent.get(parent_id, [])
        ]

    return nodes(None)


# --- Pages --------------------------------------------------------------------------------


@tenant_page
def browse(request, membership, folder_id=None):
    folder_id = folder_id or request.GET.get("folder") or None
    if request.GET.get("q", "").strip():  # an old bookmark of the search: it has a page of its own
        return redirect(
            reverse("portal-search", args=[membership.tenant.slug]) + "?" + urlencode({"q": request.GET["q"]})
        )
    folder = selectors.folder_get(membership=membership, folder_id=folder_id) if folder_id else None
    visible = file_ids_visible_to(membership=membership)  # built once: the files and the folders' counts
    try:
        listing = _listing(request, membership, folder, visible)
    except ValidationFailed as exc:
        return HttpResponseBadRequest(exc.detail)
    context = {"membership": membership, "tenant": membership.tenant, "folder": folder, "listing": listing}
    partial = request.GET.get("partial")
    if partial in ("page", "listing"):
        return render(request, f"files/_{partial}.html", context)
    chain = selectors.folder_ancestors(folder=folder) if folder else []
    context |= {
        "section": "files",
        "breadcrumbs": chain,
        "tree": _tree(membership, chain),
        "folders": list(selectors.folder_list(membership=membership, parent=folder, visible=visible).order_by("name")),
        "can_create": can_create(membership=membership),
        "can_change_folder": folder is not None and can_change_folder(membership=membership, folder=folder),
        "sorts": SORT_LABELS,
        "upload_key": uuid.uuid4(),
    }
    response = render(request, "files/browse.html", context)
    if request.GET.get("view") in VIEWS:
        response.set_cookie(VIEW_COOKIE, listing.view, max_age=365 * 24 * 3600, samesite="Lax")
    return response


_POLL_ID = re.compile(r"^[0-9a-f]{1,32}$")


@tenant_page
def browse_status(request, membership):
    """The tiles (or rows) of files whose state moved on since the page showed them, swapped
    in out of band, and the poller again for those still pending or processing."""
    shown: dict[str, str] = {}
    for pair in request.GET.getlist("f")[: PAGE_SIZE * 2]:
        pk, _, status = pair.partition(".")
        shown[pk] = status
    poll_id = request.GET.get("poll", "")
    if not _POLL_ID.match(poll_id):
        return HttpResponseBadRequest("Invalid poll id.")
    try:
        files = selectors.file_browse_items(membership=membership, ids=list(shown))
    except ValidationFailed as exc:
        return HttpResponseBadRequest(exc.detail)
    changed = [f for f in files if f.status != shown.get(str(f.pk))]
    view = request.GET.get("view") if request.GET.get("view") in VIEWS else "grid"
    busy = [f for f in files if f.status in BUSY]
    return render(
        request,
        "files/_status.html",
        {
            "membership": membership,
            "tenant": membership.tenant,
            "view": view,
            "poll_id": poll_id,
            "busy": busy,
            "changed": _items(changed, membership.tenant.slug),
        },
    )


@tenant_page
def folder_tree(request, membership):
    """The children of one folder in the tree, loaded when it is expanded."""
    parent = selectors.folder_get(membership=membership, folder_id=request.GET.get("parent", ""))
    rows = selectors.folder_tree(membership=membership, parent_ids=[parent.pk])
    nodes = [Node(folder=f, children=None) for f in rows]
    return render(request, "files/_tree.html", {"membership": membership, "nodes": nodes})


@tenant_page
def folder_picker(request, membership):
    """The options of a "move to" folder picker, loaded when its dialog opens."""
    folders = selectors.folder_choices(membership=membership)
    return render(request, "files/_folder_options.html", {"folders": folders})


@tenant_page
def browse_count(request, membership):
    """The label of "select all in this folder", with how many that is."""
    folder_id = request.GET.get("folder") or None
    folder = selectors.folder_get(membership=membership, folder_id=folder_id) if folder_id else None
    count = selectors.file_browse_count(membership=membership, folder=folder)
    return HttpResponse(f"Select all {count:,} in this folder", content_type="text/plain; charset=utf-8")


@tenant_page
def thumbnail(request, membership, file_id, fmt: str):
    """A redirect to the file's thumbnail in `fmt` (the JPEG fallback of a tile's <picture>)."""
    response = HttpResponseRedirect(rendition_url(membership=membership, file_id=file_id, kind="thumbnail", fmt=fmt))
    # The signed address stays valid for minutes: the browser may reuse the redirect a while.
    response["Cache-Control"] = "private, max-age=120"
    return response
