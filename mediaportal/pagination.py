from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination as BaseCursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from mediaportal.exceptions import ValidationFailed


class CursorPagination(BaseCursorPagination):
    """Cursor pagination: stable under inserts, and O(page) however deep the client goes.

    A cursor or page size the list cannot use is a 400 (`invalid_cursor`, `invalid_page_size`),
    as everywhere else in the API: DRF would answer 404 for an undecodable cursor, ignore a
    page size that is not a number, and fail on a decodable cursor whose position does not
    fit the ordering field.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if not raw:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationFailed("page_size must be a whole number from 1.", code="invalid_page_size")
        return min(size, self.max_page_size)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationFailed("Invalid cursor.", code="invalid_cursor") from None

    def paginate_queryset(self, queryset, request, view=None):
        if request.query_params.get(self.cursor_query_param) is None:
            return super().paginate_queryset(queryset, request, view)
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, TypeError):
            # The position a tampered cursor carries, compared with the ordering field.
            raise ValidationFailed("Invalid cursor.", code="invalid_cursor") from None


def paginate(view: APIView, request, queryset, serializer_class, ordering: str = "-created_at", **context) -> Response:
    """One page of `queryset`; document the view with `paginated(serializer_class)` and PAGE_PARAMETERS."""
    paginator = CursorPagination()
    paginator.ordering = ordering
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request, **context}).data
    return paginator.get_paginated_response(data)
