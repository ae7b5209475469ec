"""A search's page of files in the two tiers: head matches by rank, then text-only matches."""

from __future__ import annotations

import uuid

from django.db import connection
from django.db.models import BooleanField, FloatField, QuerySet
from django.db.models.expressions import RawSQL

from files.models import File
from files.search.base import SearchHit, SearchPage
from files.search.postgres.facets import facet_counts, facet_rows
from files.search.postgres.query import Query

TEXT_ONLY_RANKED = 1000
COMPLETE_WORD_MATCHES = 50

# A search's best head matches (id, rank) and the text-only candidates after them (ids).
Tiers = tuple[list[tuple[uuid.UUID, float]], list[uuid.UUID]]


def complete_word_query(files: QuerySet[File], q: Query, *, wanted: int | None) -> tuple[Query, Tiers | None]:
    """`q` without its prefix when the last word, as typed, already finds plenty of files.

    A prefix is matched through every file's entries for every word it starts, in all
    tenants at once (GIN keys are words, not tenants), for completions nobody needs once
    the word is complete and common. The threshold is fixed, not the page size, so every
    page of a search agrees.

    With `wanted` (a page without facets, which is to hold `wanted` files), counting the
    matches means finding the exact query's tiers, returned to make that page: a common
    word's files are not looked up twice, and its heads alone usually hold plenty, so its
    text is not asked at all. With facets the facet pass finds the tiers, and a count
    stopping at the threshold is all that is needed here.
    """
    exact = q.exact()
    if exact.empty:
        return q, None
    if wanted is None:
        found = files.order_by().filter(*exact.where("search_vector")).values_list("id", flat=True)
        return (exact, None) if len(found[:COMPLETE_WORD_MATCHES]) >= COMPLETE_WORD_MATCHES else (q, None)
    # Found for at least the page's `wanted`: more of either tier changes nothing on the page.
    head, text_only = tiers(files, exact, wanted=max(wanted, COMPLETE_WORD_MATCHES))
    if len(head) + len(text_only) < COMPLETE_WORD_MATCHES:
        return q, None
    return exact, (head, text_only)


def browse(files: QuerySet[File], *, offset: int, limit: int, facets: bool) -> SearchPage:
    """No words: the filtered files, newest first."""
    page = list(files.order_by("-created_at", "-id")[offset : offset + limit + 1])
    return SearchPage(
        hits=[SearchHit(file=f, rank=0.0, highlight="") for f in page[:limit]],
        facets=facet_counts(facet_rows(files))[0] if facets else {},
        has_more=len(page) > limit,
    )


def ranked(
    files: QuerySet[File], q: Query, *, offset: int, limit: int, facets: bool, known: Tiers | None = None
) -> SearchPage | None:
    """The page of `files` matching `q`, best first; None when nothing matches.

    `known`, when given, are `tiers(files, q, wanted=…)` for at least this page's
    `offset + limit + 1`; with facets they are not needed, the facet pass finds them along
    with the counts.
    """
    wanted = offset + limit + 1
    if facets:
        found = _tiers_and_facets(files, q, wanted=wanted)
        if found is None:
            return None
        counts, (head, text_only), head_total, reachable = found
    else:
        counts = {}
        head, text_only = known or tiers(files, q, wanted=wanted)
        if not head and not text_only:
            return None
        head_total = len(head)
        reachable = head_total + len(text_only)
    page = head[offset : offset + limit]
    if len(page) < limit and text_only:
        skip, take = max(0, offset - head_total), limit - len(page)
        if q.phrase:
            page += _ranks_in_order(q, text_only[skip : skip + take])
        else:
            page += _rank_text_only(q, text_only, skip=skip, take=take)
    by_id = {f.pk: f for f in files.filter(pk__in=[pk for pk, _ in page])}
    return SearchPage(
        hits=[SearchHit(file=by_id[pk], rank=round(rank, 6), highlight="") for pk, rank in page if pk in by_id],
        facets=counts,
        has_more=offset + limit < reachable,
    )


def _tiers_and_facets(files: QuerySet[File], q: Query, *, wanted: int) -> tuple[dict, Tiers, int, int] | None:
    """The facet counts, the tiers for `wanted` files, how many match in their head, and how
    many can be paged through; None when nothing matches. One pass over the matches."""
    head_sql, head_params = q.matches("search_head")
    head_rank_sql, head_rank_params = q.rank("search_head")
    rows = facet_rows(
        files.filter(*q.where("search_vector")).annotate(
            in_head=RawSQL(head_sql, head_params, output_field=BooleanField()),
            head_rank=RawSQL(
                f"CASE WHEN {head_sql} THEN {head_rank_sql} END",
                [*head_params, *head_rank_params],
                output_field=FloatField(),
            ),
        ),
        extra=("in_head", "head_rank"),
    )
    # Text-only phrase matches come newest first, so the page's are the newest `wanted`.
    counts, found = facet_counts(rows, tiers=(wanted, wanted if q.phrase else TEXT_ONLY_RANKED))
    if found["total"] == 0:
        return None
    head = [(uuid.UUID(i), 1.0 + r) for i, r in found["head"]]
    text_only = [uuid.UUID(i) for i in found["text_only"]]
    reachable = found["total"] if q.phrase else found["head_total"] + len(text_only)
    return counts, (head, text_only), found["head_total"], reachable


def tiers(files: QuerySet[File], q: Query, *, wanted: int) -> Tiers:
    """The best `wanted` head matches, and when they are fewer, the text-only candidates."""
    head = _head_matches(files, q, wanted)
    if len(head) >= wanted:
        return head, []
    return head, _text_only_candidates(files, q, wanted=wanted - len(head))


def _head_matches(files: QuerySet[File], q: Query, wanted: int) -> list[tuple[uuid.UUID, float]]:
    """The best `wanted` files matching in their head, found through the head's words in the GIN index."""
    rank_sql, rank_params = q.rank("search_head")
    matched = files.filter(*q.where("search_head"))
    if q.negated:
        matched = matched.filter(q.matching("search_vector"))
    rows = (
        matched.annotate(head_rank=RawSQL(rank_sql, rank_params, output_field=FloatField()))
        .order_by("-head_rank", "-created_at", "-id")
        .values_list("id", "head_rank")[:wanted]
    )
    return [(pk, 1.0 + rank) for pk, rank in rows]


def _text_only_candidates(files: QuerySet[File], q: Query, *, wanted: int) -> list[uuid.UUID]:
    """Files matching only in their text, newest first: the `TEXT_ONLY_RANKED` that tier 2
    ranks, or for a phrase the `wanted` that the page needs (those are not re-ranked)."""
    if q.phrase:
        return _phrase_text_only_candidates(files, q, wanted=wanted)
    return list(
        files.filter(*q.where("search_vector"), q.matching("search_head", negate=True))
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[:TEXT_ONLY_RANKED]
    )


def _phrase_text_only_candidates(files: QuerySet[File], q: Query, *, wanted: int) -> list[uuid.UUID]:
    """Newest-first phrase matches in text, checked only as far as the page needs.

    The files holding all the phrase's words come from the index alone and are sorted
    newest first; the phrase is then checked in that order until `wanted` are found.
    The sort keeps each vector as its TOAST pointer, so only the vectors checked are read.
    The subquery's OFFSET 0 is what keeps the check above the sort: let into the scan,
    PostgreSQL would check every file holding the words (for two common words, ten
    thousand vectors read from TOAST).
    """
    candidates = (
        files.filter(*q.loosened().where("search_vector"), q.matching("search_head", negate=True))
        .order_by("-created_at", "-id")
        .values("id", "created_at", "search_vector")
    )
    sql, params = candidates.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT c.id FROM ({sql} OFFSET 0) AS c WHERE c.search_vector @@ {q.sql}
            ORDER BY c.created_at DESC, c.id DESC LIMIT %s
            """,
            [*params, *q.params, wanted],
        )
        return [row[0] for row in cursor.fetchall()]


def _ranks_in_order(q: Query, ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, float]]:
    """Text ranks of `ids`, kept in the given (newest first) order."""
    if not ids:
        return []
    rank_sql, rank_params = q.rank("search_vector")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {rank_sql} FROM files_file WHERE id = ANY(%s::uuid[])",
            [*rank_params, [str(i) for i in ids]],
        )
        ranks = dict(cursor.fetchall())
    return [(pk, float(ranks.get(pk, 0.0))) for pk in ids]


def _rank_text_only(q: Query, ids: list[uuid.UUID], *, skip: int, take: int) -> list[tuple[uuid.UUID, float]]:
    """Rank text-only candidates by their full vectors: the only step that reads them."""
    rank_sql, rank_params = q.rank("search_vector")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, {rank_sql} AS rank FROM files_file WHERE id = ANY(%s::uuid[])
            ORDER BY rank DESC, created_at DESC, id DESC OFFSET %s LIMIT %s
            """,
            [*rank_params, [str(i) for i in ids], skip, take],
        )
        return [(pk, float(rank)) for pk, rank in cursor.fetchall()]
