"""The search page: search-as-you-type over a team's files, with facets, filters and paging.

It asks the search backend exactly as the API's `search/` does (same filters, same cursor),
so a member finds here what the API finds for them, and nothing they may not see. htmx
requests get the part of the page that changes: the whole results area while typing or
filtering, or just the next page's rows for "More results".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.http import QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.dateparse import parse_date
from django_htmx.http import push_url

from accounts.portal import tenant_page
from files.search import SearchPage, get_search_backend
from files.search.cursor import offset_decode, offset_encode
from files.services.files import rendition_urls
from mediaportal.exceptions import ValidationFailed

PAGE_SIZE = 48
# The backend's facets, in the order the page shows them; `type` and `year` take one value.
FACETS = (("type", "Type"), ("tag", "Tags"), ("label", "Labels"), ("year", "Year"))
SINGLE_VALUED = ("type", "year")
MB = 1024 * 1024


@dataclass
class Criteria:
    """What the page's query string asks for, as the backend's filters, and what was wrong."""

    query: str = ""
    chosen: dict[str, list[str]] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    filters: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    offset: int = 0


def _date_filter(c: Criteria, name: str, *, bound: str, days: int) -> None:
    raw = c.fields[name]
    day = parse_date(raw) if raw else None
    if raw and day is None:
        c.errors["taken"] = "Dates are written YYYY-MM-DD."
    elif day is not None:
        # "To" includes its day: the backend's bound is exclusive.
        c.filters[bound] = (day + timedelta(days=days)).isoformat()


def _size_filter(c: Criteria, name: str, *, bound: str) -> None:
    raw = c.fields[name]
    if not raw:
        return
    try:
        megabytes = Decimal(raw)
    except InvalidOperation:
        megabytes = Decimal(-1)
    if not megabytes.is_finite() or megabytes < 0 or megabytes > 10**9:
        c.errors["size"] = "Sizes are numbers of megabytes, like 2 or 0.5."
    else:
        c.filters[bound] = int(megabytes * MB)


def criteria(params: QueryDict) -> Criteria:
    c = Criteria(query=params.get("q", "").strip())
    for name, _title in FACETS:
        values = [value for value in params.getlist(name) if value]
        c.chosen[name] = values[-1:] if name in SINGLE_VALUED else list(dict.fromkeys(values))
    c.filters = {
        name: values if name not in SINGLE_VALUED else values[0] for name, values in c.chosen.items() if values
    }
    c.fields = {name: params.get(name, "").strip() for name in ("taken_from", "taken_to", "min_mb", "max_mb")}
    _date_filter(c, "taken_from", bound="taken_after", days=0)
    _date_filter(c, "taken_to", bound="taken_before", days=1)
    _size_filter(c, "min_mb", bound="size_min")
    _size_filter(c, "max_mb", bound="size_max")
    try:
        c.offset = offset_decode(params.get("cursor"))
    except ValidationFailed:
        c.offset = 0  # a mangled "More results" link starts again from the top
    return c


def _search(membership, c: Criteria, *, facets: bool) -> SearchPage:
    if c.errors:
        return SearchPage(hits=[], facets={}, has_more=False)
    try:
        return get_search_backend().search(
            membership=membership, query=c.query, filters=c.filters, offset=c.offset, limit=PAGE_SIZE, facets=facets
        )
    except ValidationFailed as exc:
        c.errors["filters"] = exc.detail
        return SearchPage(hits=[], facets={}, has_more=False)


def _url(base: str, params: QueryDict, **changes) -> str:
    query = params.copy()
    query.pop("cursor", None)
    for name, values in changes.items():
        query.setlist(name, values)
    encoded = query.urlencode()
    return f"{base}?{encoded}" if encoded else base


def _facet_groups(base: str, params: QueryDict, c: Criteria, page: SearchPage) -> list[dict]:
    """Each facet's values with their counts and the link that toggles them."""
    groups = []
    for name, title in FACETS:
        counts = dict(page.facets.get(name, {}))
        for value in c.chosen[name]:
            counts.setdefault(value, 0)  # a chosen value stays, to be unchosen
        values = []
        for value, count in counts.items():
            active = value in c.chosen[name]
            if name in SINGLE_VALUED:
                toggled = [] if active else [value]
            else:
                toggled = [v for v in c.chosen[name] if v != value] if active else [*c.chosen[name], value]
            # `other` is what no type group covers, so there is no filter for it.
            link = None if (name == "type" and value == "other") else _url(base, params, **{name: toggled})
            values.append({"value": value, "count": count, "active": active, "url": link, "id": _field_id(name, value)})
        if values:
            groups.append({"name": name, "title": title, "values": values})
    return groups


def _items(page: SearchPage) -> list[dict]:
    items = []
    for hit in page.hits:
        file = hit.file
        thumbnail = (
            rendition_urls(file=file, kinds=("thumbnail",)).get("thumbnail") if file.status == "completed" else None
        )
        folder = file.folder.display_path if file.folder else "/"
        items.append(
            {
                "file": file,
                "thumbnail": thumbnail,
                "folder": folder,
                "highlight": hit.highlight,
                "ocr": "ocr" in hit.matched_in,
            }
        )
    return items


def _field_id(name: str, value: str) -> str:
    # Stable across responses, so htmx keeps the focus on the facet link a keyboard user chose.
    return f"facet-{name}-{hashlib.sha1(value.encode()).hexdigest()[:10]}"


def _non_empty(params: QueryDict) -> dict[str, list[str]]:
    return {key: [v for v in params.getlist(key) if v] for key in params if key != "cursor"}


def _more_url(base: str, params: QueryDict, c: Criteria) -> str:
    query = params.copy()
    query["cursor"] = offset_encode(c.offset + PAGE_SIZE)
    return f"{base}?{query.urlencode()}"


@tenant_page
def search(request, membership):
    params = request.GET
    c = criteria(params)
    base = reverse("portal-search", args=[membership.tenant.slug])
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    more = partial and c.offset > 0
    page = _search(membership, c, facets=not more)
    context = {
        "membership": membership,
        "section": "search",
        "search_url": base,
        "query": c.query,
        "criteria": c,
        "items": _items(page),
        "total": sum(page.facets.get("type", {}).values()),
        "facets": _facet_groups(base, params, c, page),
        "hidden": [(name, value) for name, values in c.chosen.items() for value in values],
        "suggestion": page.suggestion,
        "suggestion_url": _url(base, params, q=[page.suggestion]) if page.suggestion else None,
        "more_url": _more_url(base, params, c) if page.has_more else None,
        "filtered": bool(c.filters),
    }
    if more:
        return render(request, "files/_search_more.html", context)
    if not partial:
        return render(request, "files/search.html", context)
    response = render(request, "files/_search_area.html", {**context, "partial": True})
    # The address bar gets the search as a link would write it, without the empty fields of the form.
    return push_url(response, _url(base, QueryDict(mutable=True), **_non_empty(params)))
