"""A search's tsquery, parsed once, and the SQL built on it.

The SQL names `files_file` directly, so it belongs in the outer query of a statement: in
a subquery the ORM renames the table and the name would mean the outer row.
"""

from __future__ import annotations

import copy
import re
import uuid

from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

MIN_PREFIX = 4
WORD = re.compile(r"^[\w'-]+$")
OPERATORS = re.compile(r'"|(?:^|\s)-|\bor\b', re.I)
# ts_rank_cd normalisation: divide by 1 + log(length) (1), then map into [0, 1) (32), so a
# head match's rank (offset by 1) always sorts above any text-only match's.
RANK_NORMALISATION = 1 | 32
PHRASE_OPERATOR = re.compile(r"<(?:-|\d+)>")
QUOTED_LEXEME = re.compile(r"'(?:[^']|'')*'")


def is_plain(text: str) -> bool:
    """Only words: no "phrase", -exclusion or OR."""
    return not OPERATORS.search(text)


def condition(sql: str, params: list) -> RawSQL:
    """`sql` as a WHERE condition for `QuerySet.filter()`."""
    return RawSQL(sql, params, output_field=BooleanField())


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
        and is_plain(text)
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


class Query:
    """One search's tsquery and the SQL fragments built on it."""

    def __init__(self, config: str, text: str, tenant_id: uuid.UUID, *, prefix: bool = True) -> None:
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

    def exact(self) -> Query:
        """This query without the last word's prefix."""
        return Query(self.config, self.text, self.tenant_id, prefix=False)

    def loosened(self) -> Query:
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

    def matching(self, column: str, *, negate: bool = False) -> RawSQL:
        """The condition "matches in `column`" (or with `negate`, "does not")."""
        sql, params = self.matches(column)
        return condition(f"NOT ({sql})" if negate else sql, params)

    def where(self, column: str) -> list[RawSQL]:
        """Conditions for "matches in `column`" that the planner answers from the GIN index.

        The index leads with `tenant_id::text`, and naming the tenant that way too is what
        makes the planner use it: asked only `tenant_id = …`, it would take any b-tree on
        tenant_id and test the vector row by row, reading every matching file's vector
        from TOAST (it does not know they live there).
        """
        return [condition("(files_file.tenant_id)::text = %s", [str(self.tenant_id)]), self.matching(column)]

    def rank(self, column: str) -> tuple[str, list]:
        return f"ts_rank_cd(files_file.{column}, {self.sql}, {RANK_NORMALISATION})", list(self.params)
