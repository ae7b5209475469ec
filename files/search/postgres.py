"""Full-text search on PostgreSQL: two weighted vectors per file, GIN per tenant, a vocabulary.

Query syntax is web-search style (`"exact phrase"`, `or`, `-exclude`), with the last word
also matched as a prefix so results appear while typing. Short prefixes are not expanded:
a 3-letter prefix matches so many lexemes that one query can take a second at 1M files.

Ranking comes in two tiers, which is what keeps a common word fast at a million files:

1. Files matching in their *head* (name A, tags and labels B, description and metadata C)
   rank first, by `ts_rank_cd` over the head vector. Heads are small and kept in the row,
   and the GIN index holds their words apart from the text's, so these are found and ranked
   cheaply however many files mention the word in their text.
2. Files matching only in their extracted text follow, ranked by the full vector. Reading a
   full vector means reading it from TOAST, so only the newest `TEXT_ONLY_RANKED` of them
   are ranked and paged through; that many text-only matches call for a filter. A phrase
   must be checked vector by vector even to be found, so its text-only matches are not
   ranked at all but listed newest first, checked only as far as the page needs.

Newest first breaks ties in both tiers. Facets and the tier sizes come from one pass over
the matches that needs no vector at all: the GIN index answers the match itself. When
nothing matches, misspelt words are corrected from the tenant's vocabulary of name and tag
words (`files_searchterm`, trigram-indexed) and the corrected query is searched instead.
"""

from __future__ import annotations

import copy
import json
import re
import uuid

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import BooleanField, Case, CharField, F, FloatField, Func, QuerySet, TextField, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, ExtractYear, Substr

from accounts.models import Membership
from files.models import File
from files.search import SearchHit, SearchPage
from files.selectors import TYPE_GROUPS, file_list

MIN_PREFIX = 4
HEADLINE_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter= … "
WORD = re.compile(r"^[\w'-]+$")
OPERATORS = re.compile(r'"|(?:^|\s)-|\bor\b', re.I)
# ts_rank_cd normalisation: divide by 1 + log(length) (1), then map into [0, 1) (32), so a
# head match's rank (offset by 1) always sorts above any text-only match's.
RANK_NORMALISATION = 1 | 32
TEXT_ONLY_RANKED = 1000
PHRASE_OPERATOR = re.compile(r"<(?:-|\d+)>")
QUOTED_LEXEME = re.compile(r"'(?:[^']|'')*'")
FACET_VALUES = 30
SUGGEST_THRESHOLD = 0.3
SUGGEST_CANDIDATES = 5
SUGGEST_HOLDERS_CHECKED = 50
SEARCH_WORK_MEM = "64MB"
COMPLETE_WORD_MATCHES = 50

# A search's best head matches (id, rank) and the text-only candidates after them (ids).
_Tiers = tuple[list[tuple[uuid.UUID, float]], list[uuid.UUID]]


def _plain(text: str) -> bool:
    """Only words: no "phrase", -exclusion or OR."""
    return not OPERATORS.search(text)


def _stem_prefix(word: str) -> str:
    """The letters and digits of `word`, lower-case: what is matched as a prefix."""
    return re.sub(r"[\W_]", "", word.lower())


def _prefixable(text: str) -> bool:
    """Whether the last word is also matched as a prefix (plain words, a long enough last one).

    Long enough in letters and digits: a run of quotes or hyphens fits WORD but is no prefix.
    """
    words = text.split()
    return (
        bool(words)
        and _plain(text)
        and not text.endswith(" ")
        and bool(WORD.match(words[-1]))
        and len(_stem_prefix(words[-1])) >= MIN_PREFIX
    )


def _tsquery_sql(config: str, text: str, *, prefix: bool = True) -> tuple[str, list]:
    """SQL for the tsquery of `text`, with the last plain word also as a prefix unless `prefix` is off."""
    words = text.split()
    last = words[-1] if words else ""
    base = "websearch_to_tsquery(%s::regconfig, %s)"
    if prefix and _prefixable(text):
        text = text.strip()
        head = " ".join(words[:-1])
        # The stemmed word (so "crazy" finds "crazi") or anything starting with it.
        last_sql = f"({base} || to_tsquery('mp_simple', %s || ':*'))"
        params = [config, last, _stem_prefix(last)]
        if head:
            return f"({base} && {last_sql})", [config, head, *params]
        return last_sql, params
    return base, [config, text]


class _Query:
    """One search's tsquery and the SQL fragments built on it."""

    def __init__(self, config: str, text: str, tenant_id, *, prefix: bool = True) -> None:
        self.config, self.text, self.tenant_id = config, text, tenant_id
        self.prefixed = prefix and _prefixable(text)
        # Parsed once: websearch_to_tsquery() is only STABLE, so written into a statement it
        # would run again for every row that the select list tests against the head.
        sql, params = _tsquery_sql(config, text, prefix=prefix)
        # With it, the part an index can answer (for `loosened`), in the same round trip.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT q::text, querytree(q) FROM (SELECT ({sql}) AS q) AS parsed", params)
            self.tsquery, self.indexable = cursor.fetchone()
        self.sql, self.params = "%s::tsquery", [self.tsquery]
        # A head match implies a full match unless the query excludes words: "-draft" must
        # also be absent from the text, which only the full vector knows.
        self.negated = "-" in text
        # Phrases ("a b", and hyphenated words, which the parser makes phrases) need word
        # positions, which GIN does not keep: each candidate's vector is read to check.
        self.phrase = bool(PHRASE_OPERATOR.search(QUOTED_LEXEME.sub("", self.tsquery)))

    def loosened(self) -> _Query:
        """A query that GIN answers alone and that matches at least what this one matches.

        Its wanted words, with every "next to" turned into "and". Exclusions are dropped
        (querytree() keeps what an index can answer): loosening `-"draft version"` instead
        would exclude every file holding both words anywhere, which the phrase does not.
        """
        wanted = self.indexable
        if not wanted or wanted == "T":  # nothing but exclusions: no index can narrow it down
            return self
        loose = copy.copy(self)
        # Only between lexemes: a quoted lexeme is kept as it is, whatever it holds.
        loose.tsquery = "".join(
            part if QUOTED_LEXEME.fullmatch(part) else PHRASE_OPERATOR.sub("&", part)
            for part in re.split(f"({QUOTED_LEXEME.pattern})", wanted)
        )
        loose.params, loose.phrase = [loose.tsquery], False
        return loose

    @property
    def empty(self) -> bool:
        """Only stop words ("the", "and"): nothing can match."""
        return not self.tsquery

    def matches(self, column: str) -> tuple[str, list]:
        return f"files_file.{column} @@ {self.sql}", list(self.params)

    def where(self, column: str) -> tuple[list[str], list]:
        """WHERE conditions for "matches in `column`" that the planner answers from the GIN index.

        The index leads with `tenant_id::text`, and naming the tenant that way too is what
        makes the planner use it: asked only `tenant_id = …`, it would take any b-tree on
        tenant_id and test the vector row by row, reading every matching file's vector
        from TOAST (it does not know they live there) — 200 ms for a common word at 1M files.
        """
        match_sql, match_params = self.matches(column)
        return ["(files_file.tenant_id)::text = %s", match_sql], [str(self.tenant_id), *match_params]

    def rank(self, column: str) -> tuple[str, list]:
        return f"ts_rank_cd(files_file.{column}, {self.sql}, {RANK_NORMALISATION})", list(self.params)


def search(
    *,
    membership: Membership,
    query: str = "",
    filters: dict | None = None,
    offset: int = 0,
    limit: int = 20,
    facets: bool = True,
) -> SearchPage:
    with transaction.atomic(), connection.cursor() as cursor:
        # A prefix ("walr:*") makes GIN collect every matching lexeme's entries, across all
        # tenants, into one bitmap; in the default 4 MB it turns lossy at a few hundred
        # thousand files and PostgreSQL then re-reads each candidate's vector from TOAST.
        cursor.execute("SET LOCAL work_mem = %s", [SEARCH_WORK_MEM])
        return _search(membership, query, filters or {}, offset=offset, limit=limit, facets=facets)


def _search(membership: Membership, query: str, filters: dict, *, offset: int, limit: int, facets: bool) -> SearchPage:
    config = "mp_" + membership.tenant.search_config  # created for each allowed language in migration 0003
    files = file_list(membership=membership, filters=filters)
    text = (query or "").strip()
    if not text:
        return _browse(files, offset=offset, limit=limit, facets=facets)
    q, tiers = _Query(config, text, membership.tenant_id), None
    if q.prefixed:
        q, tiers = _complete_word_query(files, q, wanted=None if facets else offset + limit + 1)
    page = None if q.empty else _ranked(files, q, offset=offset, limit=limit, facets=facets, tiers=tiers)
    # "Did you mean" is for misspelt plain words; a phrase or an exclusion that finds nothing
    # means nothing matches, and a similar word would contradict what was asked.
    # Every page: the next page's link repeats the misspelt words, and is corrected again.
    if page is None and _plain(text):
        suggestion = _suggestion(files, membership, config, text)
        if suggestion:
            q = _Query(config, suggestion, membership.tenant_id, prefix=False)
            page = None if q.empty else _ranked(files, q, offset=offset, limit=limit, facets=facets)
            if page is not None:
                page.suggestion = suggestion
    if page is None:
        return SearchPage(hits=[], facets=_empty_facets() if facets else {}, has_more=False)
    highlights = _highlights(q, [hit.file.pk for hit in page.hits])
    for hit in page.hits:
        hit.highlight = highlights.get(hit.file.pk, "")
    return page


def _complete_word_query(files: QuerySet[File], q: _Query, *, wanted: int | None) -> tuple[_Query, _Tiers | None]:
    """`q` without its prefix when the last word, as typed, already finds plenty of files.

    A prefix is matched through every file's entries for every word it starts, in all
    tenants at once (GIN keys are words, not tenants): ~30 ms for the prefix of a common
    word at 1M files, for completions nobody needs once the word is complete and common.
    The threshold is fixed, not the page size, so every page of a search agrees.

    With `wanted` (a page without facets, which is to hold `wanted` files), counting the
    matches means finding the exact query's tiers, returned to make that page: a common
    word's files are not looked up twice (~9 ms at 1M files), and its heads alone usually
    hold plenty, so its text is not asked at all. With facets the facet pass finds the
    tiers, and a count stopping at the threshold is all that is needed here.
    """
    exact = _Query(q.config, q.text, q.tenant_id, prefix=False)
    if exact.empty:
        return q, None
    if wanted is None:
        where, params = exact.where("search_vector")
        found = files.order_by().extra(where=where, params=params).values_list("id", flat=True)
        return (exact, None) if len(found[:COMPLETE_WORD_MATCHES]) >= COMPLETE_WORD_MATCHES else (q, None)
    # Found for at least the page's `wanted`: more of either tier changes nothing on the page.
    head, text_only = _tiers(files, exact, wanted=max(wanted, COMPLETE_WORD_MATCHES))
    if len(head) + len(text_only) < COMPLETE_WORD_MATCHES:
        return q, None
    return exact, (head, text_only)


def _browse(files: QuerySet[File], *, offset: int, limit: int, facets: bool) -> SearchPage:
    """No words: the filtered files, newest first."""
    page = list(files.order_by("-created_at", "-id")[offset : offset + limit + 1])
    return SearchPage(
        hits=[SearchHit(file=f, rank=0.0, highlight="") for f in page[:limit]],
        facets=_facets(_facet_rows(files))[0] if facets else {},
        has_more=len(page) > limit,
    )


def _ranked(
    files: QuerySet[File], q: _Query, *, offset: int, limit: int, facets: bool, tiers: _Tiers | None = None
) -> SearchPage | None:
    """The page of `files` matching `q`, best first; None when nothing matches.

    `tiers`, when already known, are `_tiers(files, q, wanted=…)` for at least this page's
    `offset + limit + 1`; with facets they are not needed, the facet pass finds them along
    with the counts.
    """
    wanted = offset + limit + 1
    if facets:
        head_sql, head_params = q.matches("search_head")
        head_rank_sql, head_rank_params = q.rank("search_head")
        full_where, full_params = q.where("search_vector")
        rows = _facet_rows(
            files.extra(where=full_where, params=full_params).annotate(
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
        text_only_limit = wanted if q.phrase else TEXT_ONLY_RANKED
        facet_counts, found = _facets(rows, head_limit=wanted, text_only_limit=text_only_limit)
        if found["total"] == 0:
            return None
        head = [(uuid.UUID(i), 1.0 + r) for i, r in found["head"]]
        head_total, text_only = found["head_total"], [uuid.UUID(i) for i in found["text_only"]]
        reachable = found["total"] if q.phrase else head_total + len(text_only)
    else:
        facet_counts = {}
        head, text_only = tiers or _tiers(files, q, wanted=wanted)
        if not head and not text_only:
            return None
        head_total = len(head)
        reachable = head_total + len(text_only)
    ranked = head[offset : offset + limit]
    if len(ranked) < limit and text_only:
        skip, take = max(0, offset - head_total), limit - len(ranked)
        if q.phrase:
            ranked += _ranks_in_order(q, text_only[skip : skip + take])
        else:
            ranked += _rank_text_only(q, text_only, skip=skip, take=take)
    by_id = {f.pk: f for f in files.filter(pk__in=[pk for pk, _ in ranked])}
    return SearchPage(
        hits=[SearchHit(file=by_id[pk], rank=round(rank, 6), highlight="") for pk, rank in ranked if pk in by_id],
        facets=facet_counts,
        has_more=offset + limit < reachable,
    )


def _tiers(files: QuerySet[File], q: _Query, *, wanted: int) -> _Tiers:
    """The best `wanted` head matches, and when they are fewer, the text-only candidates."""
    head = _head_matches(files, q, wanted)
    if len(head) >= wanted:
        return head, []
    return head, _text_only_candidates(files, q, wanted=wanted - len(head))


def _head_matches(files: QuerySet[File], q: _Query, wanted: int) -> list[tuple[uuid.UUID, float]]:
    """The best `wanted` files matching in their head, found through the head's words in the GIN index."""
    head_where, head_params = q.where("search_head")
    rank_sql, rank_params = q.rank("search_head")
    matched = files.extra(where=head_where, params=head_params)
    if q.negated:
        full_sql, full_params = q.matches("search_vector")
        matched = matched.extra(where=[full_sql], params=full_params)
    rows = (
        matched.annotate(head_rank=RawSQL(rank_sql, rank_params, output_field=FloatField()))
        .order_by("-head_rank", "-created_at", "-id")
        .values_list("id", "head_rank")[:wanted]
    )
    return [(pk, 1.0 + rank) for pk, rank in rows]


def _text_only_candidates(files: QuerySet[File], q: _Query, *, wanted: int) -> list[uuid.UUID]:
    """Files matching only in their text, newest first: the `TEXT_ONLY_RANKED` that tier 2
    ranks, or for a phrase the `wanted` that the page needs (those are not re-ranked)."""
    if q.phrase:
        return _phrase_text_only_candidates(files, q, wanted=wanted)
    full_where, full_params = q.where("search_vector")
    head_sql, head_params = q.matches("search_head")
    return list(
        files.extra(where=[*full_where, f"NOT ({head_sql})"], params=[*full_params, *head_params])
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[:TEXT_ONLY_RANKED]
    )


def _phrase_text_only_candidates(files: QuerySet[File], q: _Query, *, wanted: int) -> list[uuid.UUID]:
    """Newest-first phrase matches in text, checked only as far as the page needs.

    The files holding all the phrase's words come from the index alone and are sorted
    newest first; the phrase is then checked in that order until `wanted` are found.
    The sort keeps each vector as its TOAST pointer, so only the vectors checked are read.
    The subquery's OFFSET 0 is what keeps the check above the sort: let into the scan,
    PostgreSQL would check every file holding the words (two common words: ten thousand
    vectors, 200 ms at 1M files).
    """
    loose_where, loose_params = q.loosened().where("search_vector")
    head_sql, head_params = q.matches("search_head")
    candidates = (
        files.extra(where=[*loose_where, f"NOT ({head_sql})"], params=[*loose_params, *head_params])
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


def _ranks_in_order(q: _Query, ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, float]]:
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


def _rank_text_only(q: _Query, ids: list[uuid.UUID], *, skip: int, take: int) -> list[tuple[uuid.UUID, float]]:
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


# --- Facets -------------------------------------------------------------------------


def _type_group() -> Case:
    return Case(
        *[When(condition, then=Value(name)) for name, condition in TYPE_GROUPS.items() if name != "pdf"],
        default=Value("other"),
        output_field=CharField(),
    )


def _year() -> Coalesce:
    """The capture year when the file states one, else the upload year."""
    return Coalesce(
        Func(
            Substr(RawSQL("files_file.metadata->>'taken_at'", [], output_field=CharField()), 1, 4),
            function="NULLIF",
            template="NULLIF(%(expressions)s, '')",
        ),
        Func(ExtractYear("created_at"), function="CAST", template="CAST(%(expressions)s AS text)"),
        output_field=CharField(),
    )


def _facet_rows(files: QuerySet[File], extra: tuple[str, ...] = ()) -> QuerySet:
    """One row per matching file with just what facets (and the tiers) need."""
    return (
        files.order_by()
        .annotate(facet_type=_type_group(), facet_year=_year(), facet_tags=F("tags"), facet_labels=F("labels"))
        .values("id", "created_at", "facet_type", "facet_year", "facet_tags", "facet_labels", *extra)
    )


def _empty_facets() -> dict[str, dict[str, int]]:
    return {"type": {}, "tag": {}, "label": {}, "year": {}}


def _facets(
    rows: QuerySet, *, head_limit: int | None = None, text_only_limit: int = TEXT_ONLY_RANKED
) -> tuple[dict, dict]:
    """Counts by type group, tag, label and year over all of `rows`, in one statement.

    The matching rows are read once (a MATERIALIZED CTE) and every count is taken from that
    copy; with `head_limit`, the same pass also returns the best head matches, how many
    there are, and the newest text-only matches.
    """
    sql, params = rows.query.sql_with_params()
    tiers = ""
    if head_limit is not None:
        tiers = f""",
            (SELECT count(*) FROM m WHERE in_head),
            (SELECT coalesce(json_agg(json_build_array(id, head_rank)), '[]') FROM (
                SELECT id, head_rank FROM m WHERE in_head
                ORDER BY head_rank DESC, created_at DESC, id DESC LIMIT {int(head_limit)}) t),
            (SELECT coalesce(json_agg(id), '[]') FROM (
                SELECT id FROM m WHERE NOT in_head ORDER BY created_at DESC, id DESC LIMIT {int(text_only_limit)}) t)"""
    statement = f"""
        WITH m AS MATERIALIZED ({sql})
        SELECT
            (SELECT count(*) FROM m),
            (SELECT coalesce(json_agg(json_build_array(k, n)), '[]') FROM (
                SELECT facet_type AS k, count(*) AS n FROM m GROUP BY 1 ORDER BY 2 DESC, 1) t),
            (SELECT coalesce(json_agg(json_build_array(k, n)), '[]') FROM (
                SELECT tag AS k, count(*) AS n FROM m, unnest(m.facet_tags) AS tag
                GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {FACET_VALUES}) t),
            (SELECT coalesce(json_agg(json_build_array(k, n)), '[]') FROM (
                SELECT label->>'name' AS k, count(*) AS n
                FROM m, jsonb_array_elements(
                    CASE WHEN jsonb_typeof(m.facet_labels) = 'array' THEN m.facet_labels ELSE '[]'::jsonb END) AS label
                WHERE label->>'name' IS NOT NULL
                GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {FACET_VALUES}) t),
            (SELECT coalesce(json_agg(json_build_array(k, n)), '[]') FROM (
                SELECT facet_year AS k, count(*) AS n FROM m GROUP BY 1 ORDER BY 1 DESC) t)
            {tiers}
    """
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = [json.loads(v) if isinstance(v, str) else v for v in cursor.fetchone()]
    counts = {
        name: {key: n for key, n in pairs}
        for name, pairs in zip(("type", "tag", "label", "year"), row[1:5], strict=True)
    }
    result = {"total": row[0]}
    if head_limit is not None:
        result.update(head_total=row[5], head=row[6], text_only=row[7])
    return counts, result


# --- Highlights and suggestions -----------------------------------------------------


def _highlights(q: _Query, ids: list) -> dict:
    """Snippets for the page only: ts_headline is the most expensive part of a search."""
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, ts_headline(%s::regconfig,
                concat_ws(' … ', NULLIF(left(content_text, 50000), ''), NULLIF(description, ''), name),
                {q.sql}, %s)
            FROM files_file WHERE id = ANY(%s)
            """,
            [q.config, *q.params, HEADLINE_OPTIONS, ids],
        )
        return dict(cursor.fetchall())


def _suggestion(files: QuerySet[File], membership: Membership, config: str, text: str) -> str | None:
    """The query with each unknown word replaced by the most similar word of the tenant's
    file names and tags, or None when no word could be corrected.

    The vocabulary holds the words of every name the tenant ever had, the member's or not,
    so a word is only offered when a file among `files` (those the member may see, as
    filtered) has it in its name or tags now: a suggestion never tells of a file the
    member cannot see. The caller then searches for it and offers it only if it finds files.
    """
    words = text.lower().split()
    corrected, changed = [], False
    with transaction.atomic(), connection.cursor() as cursor:
        # `%` is the indexable form of similarity() >= threshold: the trigram GIN on
        # (tenant_id, term) finds the candidates among this tenant's words only.
        cursor.execute("SET LOCAL pg_trgm.similarity_threshold = %s", [SUGGEST_THRESHOLD])
        for word in words:
            cursor.execute(
                """
                SELECT term, term = mp_unaccent(%s) FROM files_searchterm
                WHERE tenant_id = %s AND term %% mp_unaccent(%s)
                ORDER BY term = mp_unaccent(%s) DESC, similarity(term, mp_unaccent(%s)) DESC, term
                LIMIT %s
                """,
                [word, membership.tenant_id, word, word, word, SUGGEST_CANDIDATES],
            )
            # The closest word that a file the member may see has; the word itself (first
            # when the vocabulary has it) needs no correction.
            visible = (row for row in cursor.fetchall() if _visible_term(files, membership.tenant_id, config, row[0]))
            term, exact = next(visible, (None, True))
            corrected.append(word if exact else term)
            changed = changed or not exact
    return " ".join(corrected) if changed else None


def _visible_term(files: QuerySet[File], tenant_id, config: str, term: str) -> bool:
    """Whether `term` is a word of the name or tags of one of `files`, as the vocabulary has it.

    The head vector's index finds the few files whose head holds the word's stem; their
    names and tags are then split into words the way the vocabulary's trigger does.
    The holders are a subquery, where the ORM renames the table: raw SQL naming
    `files_file` in it would test the outer query's row instead (a correlated subquery
    that scans every file, seconds at 1M, and sees only 50 arbitrary files of the tenant).
    """
    holders = (
        files.order_by()
        .annotate(tenant_text=Cast("tenant_id", output_field=TextField()))
        .filter(tenant_text=str(tenant_id), search_head=SearchQuery(term, config=config, search_type="plain"))
    )
    words_sql = """%s = ANY(tsvector_to_array(to_tsvector('mp_simple',
        regexp_replace(coalesce(files_file.name, ''), '[._\\-]+', ' ', 'g') || ' ' || array_to_string(files_file.tags, ' '))))"""
    return (
        File.objects.filter(pk__in=holders.values("pk")[:SUGGEST_HOLDERS_CHECKED])
        .extra(where=[words_sql], params=[term])
        .exists()
    )
