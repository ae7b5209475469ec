"""Facet counts (type group, tag, label, year) over a search's matches, in one statement."""

from __future__ import annotations

import json

from django.db import connection
from django.db.models import Case, CharField, F, Func, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, ExtractYear, Substr

from files.models import File
from files.selectors import TYPE_GROUPS

FACET_VALUES = 30


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


def facet_rows(files: QuerySet[File], extra: tuple[str, ...] = ()) -> QuerySet:
    """One row per matching file with just what facets (and the tiers) need."""
    return (
        files.order_by()
        .annotate(facet_type=_type_group(), facet_year=_year(), facet_tags=F("tags"), facet_labels=F("labels"))
        .values("id", "created_at", "facet_type", "facet_year", "facet_tags", "facet_labels", *extra)
    )


def empty_facets() -> dict[str, dict[str, int]]:
    return {"type": {}, "tag": {}, "label": {}, "year": {}}


def facet_counts(rows: QuerySet, *, tiers: tuple[int, int] | None = None) -> tuple[dict, dict]:
    """Counts by type group, tag, label and year over all of `rows`, in one statement.

    The matching rows are read once (a MATERIALIZED CTE) and every count is taken from that
    copy. With `tiers` (head_limit, text_only_limit), the same pass also returns the best
    `head_limit` head matches, how many there are, and the newest `text_only_limit`
    text-only matches; `rows` then need `in_head` and `head_rank`.
    """
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(_statement(sql, tiers=tiers), params)
        row = [json.loads(v) if isinstance(v, str) else v for v in cursor.fetchone()]
    counts = {
        name: {key: n for key, n in pairs}
        for name, pairs in zip(("type", "tag", "label", "year"), row[1:5], strict=True)
    }
    result = {"total": row[0]}
    if tiers is not None:
        result.update(head_total=row[5], head=row[6], text_only=row[7])
    return counts, result


def _statement(rows_sql: str, *, tiers: tuple[int, int] | None) -> str:
    tier_columns = ""
    if tiers is not None:
        head_limit, text_only_limit = tiers
        tier_columns = f""",
            (SELECT count(*) FROM m WHERE in_head),
            (SELECT coalesce(json_agg(json_build_array(id, head_rank)), '[]') FROM (
                SELECT id, head_rank FROM m WHERE in_head
                ORDER BY head_rank DESC, created_at DESC, id DESC LIMIT {int(head_limit)}) t),
            (SELECT coalesce(json_agg(id), '[]') FROM (
                SELECT id FROM m WHERE NOT in_head ORDER BY created_at DESC, id DESC LIMIT {int(text_only_limit)}) t)"""
    return f"""
        WITH m AS MATERIALIZED ({rows_sql})
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
            {tier_columns}
    """
