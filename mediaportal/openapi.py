"""Schema pieces every API view shares: the error body, the list envelope and its parameters.

The views are plain APIViews, so drf-spectacular cannot see that `paginate()` wraps their
items or that errors come from `mediaportal.exceptions`; these say it once for all of them.
"""

from __future__ import annotations

import functools

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from mediaportal.pagination import CursorPagination


class ErrorOutput(serializers.Serializer):
    detail = serializers.CharField(help_text="For people.")
    code = serializers.CharField(help_text="Stable, for programs.")


class ValidationErrorOutput(ErrorOutput):
    errors = serializers.JSONField(help_text="Messages per field, as DRF reports them.")


class ThrottledOutput(ErrorOutput):
    retry_after = serializers.IntegerField(help_text="Seconds to wait; also the `Retry-After` header.")


ERRORS = {
    400: OpenApiResponse(ValidationErrorOutput, description="Invalid input"),
    401: OpenApiResponse(ErrorOutput, description="Not authenticated"),
    403: OpenApiResponse(ErrorOutput, description="Visible but not allowed"),
    404: OpenApiResponse(ErrorOutput, description="Not found or not visible"),
    409: OpenApiResponse(ErrorOutput, description="Conflict"),
    413: OpenApiResponse(ErrorOutput, description="Too large, or over the tenant's quota"),
    422: OpenApiResponse(ErrorOutput, description="An Idempotency-Key sent again with a different request"),
    429: OpenApiResponse(ThrottledOutput, description="Too many attempts"),
    503: OpenApiResponse(ErrorOutput, description="Storage unavailable; nothing was saved"),
    507: OpenApiResponse(ErrorOutput, description="No room to receive the upload now; nothing was saved"),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="Where to continue: taken from a page's `next` or `previous`."),
    OpenApiParameter(
        "page_size",
        int,
        description=f"Items per page (default {CursorPagination.page_size}, at most {CursorPagination.max_page_size}).",
    ),
]


class PageOutput(serializers.Serializer):
    """What the envelopes `paginated()` makes have in common."""


@functools.cache
def paginated(item: type[serializers.Serializer]) -> type[PageOutput]:
    """The envelope lists return: `{"results": [item, ...], "next", "previous"}`."""

    class Page(PageOutput):
        results = item(many=True)
        next = serializers.URLField(allow_null=True, help_text="The next page; null on the last.")
        previous = serializers.URLField(allow_null=True, help_text="The previous page; null on the first.")

    # Cached, so each item type is one schema component, named after it.
    Page.__name__ = Page.__qualname__ = "Paginated" + item.__name__.removesuffix("Output") + "List"
    return Page


class AutoSchema(SpectacularAutoSchema):
    def get_operation_id(self) -> str:
        # drf-spectacular names an operation `…_list` only when it returns a bare array; a page
        # is a list too, and without this a list and its detail view are both `…_retrieve`.
        operation_id = super().get_operation_id()
        responses = self.get_response_serializers()
        main = responses.get(200) if isinstance(responses, dict) else responses
        if self.method == "GET" and isinstance(main, type) and issubclass(main, PageOutput):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id
