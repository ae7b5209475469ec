"""Full-text search on PostgreSQL: weighted tsvector, GIN per tenant, trigram fallback.

Query syntax is web-search style (`"exact phrase"`, `or`, `-exclude`), with the last word
also matched as a prefix so results appear while typing. Short prefixes are not expanded:
a 3-letter prefix matches so many lexemes that one query can take a second at 1M files.
"""

from __future__ import annotations

import difflib
import re

from django.db import connection, transaction
from django.db.models import Case, CharField, Count, F, FloatField, Func, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, ExtractYear, Substr

from accounts.models import Membership
from files.search import SearchHit, SearchPage
from files.selectors import TYPE_GROUPS, file_list

MIN_PREFIX = 4
HEADLINE_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter= … "
WORD = re.compile(r"^[\w'-]+$")
TRIGRAM_THRESHOLD = 0.3
OPERATORS = re.compile(r'"|(?:^|\s)-|\bor\b', re.I)


def _plain(text: str) -> bool:
    """Only words: no "phrase", -exclusion or OR."""
    return not OPERATORS.search(text)


def _tsquery_sql(config: str, text: str) -> tuple[str, list]:
    """SQL for the tsquery of `text`, with the last plain word also as a prefix."""
    text = text.strip()
    words = text.split()
    last = words[-1] if words else ""
    base = "websearch_to_tsquery(%s::regconfig, %s)"
    if _plain(text) and not text.endswith(" ") and WORD.match(last) and len(last) >= MIN_PREFIX:
        head = " ".join(words[:-1])
        prefix = re.sub(r"[^\w]", "", last.lower())
        # The stemmed word (so "crazy" finds "crazi") or anything starting with it.
        last_sql = f"({base} || to_tsquery('mp_simple', %s || ':*'))"
        params = [config, last, prefix]
        if head:
            return f"({base} && {last_sql})", [config, head, *params]
        return last_sql, params
    return base, [config, text]


def search(
    *, membership: Membership, query: str = "", filters: dict | None = None, offset: int = 0, limit: int = 20
) -> SearchPage:
    config = "mp_" + membership.tenant.search_config  # created for each allowed language in migration 0003
    files = file_list(membership=membership, filters=filters or {})
    query = (query or "").strip()
    if query:
        sql, params = _tsquery_sql(config, query)
        matched = files.annotate(
            rank=RawSQL(f"ts_rank_cd(files_file.search_vector, {sql}, 1)", params, output_field=FloatField())
            # A bare `vector @@ query` in WHERE (not `(...) = true`) so the GIN index is used.
        ).extra(where=[f"files_file.search_vector @@ {sql}"], params=params)
        ordered = matched.order_by("-rank", "-created_at", "-id")
    else:
        matched = files.annotate(rank=Value(0.0, output_field=FloatField()))
        ordered = matched.order_by("-created_at", "-id")
    page = list(ordered[offset : offset + limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    suggestion = None
    # The fallback is for misspelt plain words; a phrase or an exclusion that finds nothing
    # means nothing matches, and "similar names" would contradict what was asked.
    if query and _plain(query) and not page and offset == 0:
        page, suggestion = _trigram_fallback(files, query, limit)
        matched = files.filter(pk__in=[f.pk for f in page])
    highlights = _highlights(config, query, page) if query else {}
    return SearchPage(
        hits=[SearchHit(file=f, rank=round(float(f.rank), 6), highlight=highlights.get(f.pk, "")) for f in page],
        facets=_facets(matched),
        has_more=has_more,
        suggestion=suggestion,
    )


def _trigram_fallback(files, query: str, limit: int):
    """Names (and tags) similar to a query full-text search found nothing for; "did you mean"."""
    text = query.strip('"').lower()
    similarity = RawSQL(
        "word_similarity(mp_unaccent(%s), mp_unaccent(lower(files_file.name)))", [text], output_field=FloatField()
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # `<%` is the indexable form of word_similarity() >= threshold: the trigram GIN on
        # (tenant_id, name) finds the candidates instead of scoring every name in the tenant.
        cursor.execute("SET LOCAL pg_trgm.word_similarity_threshold = %s", [TRIGRAM_THRESHOLD])
        candidates = list(
            files.annotate(rank=similarity)
            .extra(where=["mp_unaccent(%s) <%% mp_unaccent(lower(files_file.name))"], params=[text])
            .order_by("-rank", "-created_at")[:limit]
        )
    if not candidates:
        return [], None
    vocabulary = {word for f in candidates for word in re.findall(r"[^\W_]+", f.name.lower())}
    vocabulary |= {tag for f in candidates for tag in f.tags}
    close = difflib.get_close_matches(text, sorted(vocabulary), n=1, cutoff=0.5)
    return candidates, (close[0] if close else candidates[0].name)


def _highlights(config: str, query: str, page) -> dict:
    """Snippets for the page only: ts_headline is the most expensive part of a search."""
    if not page:
        return {}
    sql, params = _tsquery_sql(config, query)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, ts_headline(%s::regconfig,
                concat_ws(' … ', NULLIF(left(content_text, 50000), ''), NULLIF(description, ''), name),
                {sql}, %s)
            FROM files_file WHERE id = ANY(%s)
            """,
            [config, *params, HEADLINE_OPTIONS, [f.pk for f in page]],
        )
        return dict(cursor.fetchall())


def _facets(files) -> dict[str, dict[str, int]]:
    """Counts by type group, tag, label and year over the whole filtered result set."""
    base = files.order_by()
    group = Case(
        *[When(condition, then=Value(name)) for name, condition in TYPE_GROUPS.items() if name != "pdf"],
        default=Value("other"),
        output_field=CharField(),
    )
    types = dict(base.annotate(group=group).values("group").annotate(n=Count("id")).values_list("group", "n"))
    tags = dict(
        base.annotate(tag=Func(F("tags"), function="unnest", output_field=CharField()))
        .values("tag")
        .annotate(n=Count("id"))
        .order_by("-n", "tag")
        .values_list("tag", "n")[:30]
    )
    labels = dict(
        base.annotate(label=RawSQL("jsonb_array_elements(files_file.labels)->>'name'", [], output_field=CharField()))
        .values("label")
        .annotate(n=Count("id"))
        .order_by("-n", "label")
        .values_list("label", "n")[:30]
    )
    year = Coalesce(
        Func(
            Substr(RawSQL("files_file.metadata->>'taken_at'", [], output_field=CharField()), 1, 4),
            function="NULLIF",
            template="NULLIF(%(expressions)s, '')",
        ),
        Func(ExtractYear("created_at"), function="CAST", template="CAST(%(expressions)s AS text)"),
        output_field=CharField(),
    )
    years = dict(
        base.annotate(year=year).values("year").annotate(n=Count("id")).order_by("-year").values_list("year", "n")
    )
    return {"type": types, "tag": tags, "label": labels, "year": years}
