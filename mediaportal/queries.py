"""Small helpers for ORM queries that every app makes."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


def one_or_none(queryset: QuerySet[M]) -> M | None:
    """The row of a lookup that matches one row at most (by a unique key), or None.

    Unlike `first()`, it adds no ORDER BY: the statement stays as written, and the ORM does
    not spend time compiling an ordering that one row does not need. Lookups on every
    request (tokens, memberships, share links) are hot enough for that to count.
    """
    return next(iter(queryset[:1]), None)
