"""The `type` of a content type: the group of the files list's `type` filter that holds it
(files.selectors.TYPE_GROUPS, read here so the two never disagree)."""

from __future__ import annotations

from django.db.models import Q

from files.selectors import TYPE_GROUPS

OTHER = "other"


def _matches(condition, content_type: str) -> bool:
    if isinstance(condition, Q):
        results = (_matches(child, content_type) for child in condition.children)
        matched = any(results) if condition.connector == Q.OR else all(results)
        return matched != condition.negated
    lookup, value = condition
    if lookup == "content_type":
        return content_type == value
    if lookup == "content_type__startswith":
        return content_type.startswith(value)
    if lookup == "content_type__in":
        return content_type in value
    raise ValueError(f"TYPE_GROUPS uses a lookup this does not know: {lookup}")


def type_of(content_type: str) -> str:
    """The first group that holds `content_type` (a PDF is `pdf`, though documents hold it
    too), else `other`."""
    return next((name for name, group in TYPE_GROUPS.items() if _matches(group, content_type)), OTHER)
