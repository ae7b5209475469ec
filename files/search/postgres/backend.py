"""`PostgresSearchBackend`: full-text search in PostgreSQL (the design is in the package docstring)."""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from accounts.models import Membership
from files.models import File, SearchTerm
from files.search.base import SearchBackend, SearchPage
from files.search.postgres.facets import empty_facets
from files.search.postgres.query import Query, is_plain
from files.search.postgres.ranking import browse, complete_word_query, ranked
from files.search.postgres.suggest import correction
from files.selectors import file_list

# Matches are marked with two private-use characters, removed from the text beforehand; the
# snippet is then escaped as a whole and only those marks become tags. A file's text or
# description is anybody's markup, and `highlight` is documented as HTML with <mark>.
MARK_START, MARK_STOP = "\ue000", "\ue001"
HEADLINE_OPTIONS = (
    f"StartSel={MARK_START}, StopSel={MARK_STOP}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter= … "
)
# ts_headline's cost grows with the text it parses, and most matches of a long text show
# early; octet_length reads a long text's size from its TOAST pointer without fetching it.
# Over the load bench's notes (~3,000 characters), a first window of 2,000 marked a match in
# 199 of 200 snippets at 44 % of the cost of 5,000 (3.8 against 8.8 ms a page of 20).
HEADLINE_WINDOW, HEADLINE_MAX_WINDOW = 2000, 50000
# A prefix ("walr:*") makes GIN collect every matching lexeme's entries, across all tenants,
# into one bitmap; in the default 4 MB it turns lossy at a few hundred thousand files and
# PostgreSQL then re-reads each candidate's vector from TOAST.
SEARCH_WORK_MEM = "64MB"


class PostgresSearchBackend(SearchBackend):
    """PostgreSQL full text. Option: `work_mem` for a search's transaction."""

    def __init__(self, *, work_mem: str = SEARCH_WORK_MEM) -> None:
        super().__init__()
        self.work_mem = work_mem

    def search(
        self,
        *,
        membership: Membership,
        query: str = "",
        filters: Mapping[str, Any] | None = None,
        offset: int = 0,
        limit: int = 20,
        facets: bool = True,
    ) -> SearchPage:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = %s", [self.work_mem])
            return _search(membership, query, dict(filters or {}), offset=offset, limit=limit, facets=facets)

    def suggest(self, *, membership: Membership, query: str, filters: Mapping[str, Any] | None = None) -> str | None:
        text = (query or "").strip()
        if not text or not is_plain(text):
            return None
        files = file_list(membership=membership, filters=dict(filters or {}))
        return correction(files, membership.tenant_id, _config(membership), text)

    def reindex(
        self,
        *,
        tenant_id: uuid.UUID | str | None = None,
        batch_size: int = 2000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Recompute the vectors in id-ordered batches, one transaction each.

        Writing a column the vectors are made from fires the triggers that recompute them and
        that collect the words "did you mean" suggests, which start afresh here so words of
        renamed and purged files go.
        """
        files = File.objects.all() if tenant_id is None else File.objects.filter(tenant_id=tenant_id)
        (SearchTerm.objects.all() if tenant_id is None else SearchTerm.objects.filter(tenant_id=tenant_id)).delete()
        done, last_id = 0, None
        while True:
            batch = files.order_by("id") if last_id is None else files.filter(id__gt=last_id).order_by("id")
            ids = list(batch.values_list("id", flat=True)[:batch_size])
            if not ids:
                return done
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("UPDATE files_file SET name = name WHERE id = ANY(%s)", [ids])
            done, last_id = done + len(ids), ids[-1]
            if progress:
                progress(len(ids))


def _config(membership: Membership) -> str:
    """The tenant's text-search configuration (files/sql/search/configurations.v1.sql)."""
    return "mp_" + membership.tenant.search_config


def _search(membership: Membership, query: str, filters: dict, *, offset: int, limit: int, facets: bool) -> SearchPage:
    config = _config(membership)
    files = file_list(membership=membership, filters=filters)
    text = (query or "").strip()
    if not text:
        return browse(files, offset=offset, limit=limit, facets=facets)
    q, known = Query(config, text, membership.tenant_id), None
    if q.prefixed:
        q, known = complete_word_query(files, q, wanted=None if facets else offset + limit + 1)
    page = None if q.empty else ranked(files, q, offset=offset, limit=limit, facets=facets, known=known)
    # "Did you mean" is for misspelt plain words; a phrase or an exclusion that finds nothing
    # means nothing matches, and a similar word would contradict what was asked.
    # Every page: the next page's link repeats the misspelt words, and is corrected again.
    if page is None and is_plain(text):
        corrected = _corrected(files, membership, config, text, offset=offset, limit=limit, facets=facets)
        if corrected is not None:
            page, q = corrected
    if page is None:
        return SearchPage(hits=[], facets=empty_facets() if facets else {}, has_more=False)
    snippets = highlights(q, [hit.file.pk for hit in page.hits])
    for hit in page.hits:
        hit.highlight, hit.matched_in = snippets.get(hit.file.pk, ("", []))
    return page


def _corrected(
    files: QuerySet[File], membership: Membership, config: str, text: str, *, offset: int, limit: int, facets: bool
) -> tuple[SearchPage, Query] | None:
    """The page of `text` corrected, with its query; None when no correction finds files."""
    suggestion = correction(files, membership.tenant_id, config, text)
    if not suggestion:
        return None
    q = Query(config, suggestion, membership.tenant_id, prefix=False)
    page = None if q.empty else ranked(files, q, offset=offset, limit=limit, facets=facets)
    if page is None:
        return None
    page.suggestion = suggestion
    return page, q


def highlights(q: Query, ids: list) -> dict:
    """{id: (snippet HTML, where it matched)} for the page only: ts_headline is the most
    expensive part of a search.

    It parses and stems every word it is given, so it reads each text's first
    HEADLINE_WINDOW characters; a long text whose snippet marks nothing there (its matches
    lie further in) is read again up to HEADLINE_MAX_WINDOW. Text OCR recognised gets its own
    snippet, so that a match there is told apart (`"ocr"` among the places matched in).
    """
    if not ids:
        return {}
    snippets = _headlines(q, ids, HEADLINE_WINDOW)
    further = [file_id for file_id, (snippet, _ocr, longer) in snippets.items() if longer and MARK_START not in snippet]
    if further:
        snippets.update(_headlines(q, further, HEADLINE_MAX_WINDOW))
    return {file_id: _snippet(text, ocr) for file_id, (text, ocr, _longer) in snippets.items()}


def _snippet(text: str, ocr: str | None) -> tuple[str, list[str]]:
    """The highlight from the file's text and from its OCR text, and which of them matched."""
    matched = [name for name, snippet in (("text", text), ("ocr", ocr)) if snippet and MARK_START in snippet]
    if "ocr" not in matched:
        return safe_snippet(text), matched
    if "text" not in matched:
        return safe_snippet(ocr), matched
    return safe_snippet(f"{text} … {ocr}"), matched


def _headlines(q: Query, ids: list, window: int) -> dict:
    """{id: (headline over the text's first `window` characters, over the OCR text's (None
    without), whether the text is longer)}."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, ts_headline(%s::regconfig,
                translate(
                    concat_ws(' … ', NULLIF(left(content_text, %s), ''), NULLIF(description, ''), name), %s, ''
                ),
                {q.sql}, %s),
                CASE WHEN ocr_text <> '' THEN
                    ts_headline(%s::regconfig, translate(left(ocr_text, %s), %s, ''), {q.sql}, %s)
                END,
                octet_length(content_text) > %s
            FROM files_file WHERE id = ANY(%s)
            """,
            [
                q.config, window, MARK_START + MARK_STOP, *q.params, HEADLINE_OPTIONS,
                q.config, window, MARK_START + MARK_STOP, *q.params, HEADLINE_OPTIONS,
                window, ids,
            ],
        )  # fmt: skip
        return {file_id: (snippet, ocr, longer) for file_id, snippet, ocr, longer in cursor.fetchall()}


def safe_snippet(snippet: str) -> str:
    """The headline as HTML: everything escaped, the match marks as <mark> and </mark>."""
    return html.escape(snippet, quote=True).replace(MARK_START, "<mark>").replace(MARK_STOP, "</mark>")
