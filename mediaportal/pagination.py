from __future__ import annotations

from rest_framework.pagination import CursorPagination as BaseCursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView


class CursorPagination(BaseCursorPagination):
    """Cursor pagination: stable under inserts, and O(page) however deep the client goes."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"


def paginate(view: APIView, request, queryset, serializer_class, ordering: str = "-created_at", **context) -> Response:
    """One page of `queryset`; document the view with `paginated(serializer_class)` and PAGE_PARAMETERS."""
    paginator = CursorPagination()
    paginator.ordering = ordering
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request, **context}).data
    return paginator.get_paginated_response(data)
