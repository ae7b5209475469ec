"""Schema pieces every API view shares: the error body, the list envelope and its parameters.

The views are plain APIViews, so drf-spectacular cannot see that `paginate()` wraps their
items or that errors come from `mediaportal.exceptions`; these say it once for all of them.
"""

from __future__ import annotations

import functools

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers

from mediaportal.pagination import CursorPagination


class ErrorOutput(serializers.Serializer):
    detail = serializers.CharField(help_text="For people.")
    code = serializers.CharField(help_text="Stable, for programs.")


class ValidationErrorOutput(ErrorOutput):
    errors = serializers.JSONField(
        required=False, help_text="Messages per field, as DRF reports them; only when fields failed validation."
    )


class ThrottledOutput(ErrorOutput):
    retry_after = serializers.IntegerField(help_text="Seconds to wait; also the `Retry-After` header.")


ERRORS = {
    400: OpenApiResponse(ValidationErrorOutput, description="Invalid input"),
    401: OpenApiResponse(ErrorOutput, description="Not authenticated"),
    403: OpenApiResponse(ErrorOutput, description="Visible but not allowed"),
    404: OpenApiResponse(ErrorOutput, description="Not found or not visible"),
    409: OpenApiResponse(ErrorOutput, description="Conflict"),
    413: OpenApiResponse(ErrorOutput, description="Too large, or over the tenant's quota"),
    415: OpenApiResponse(ErrorOutput, description="A type of file that is not accepted"),
    422: OpenApiResponse(ErrorOutput, description="An Idempotency-Key sent again with a different request"),
    429: OpenApiResponse(ThrottledOutput, description="Too many attempts"),
    503: OpenApiResponse(ErrorOutput, description="Storage unavailable; nothing was saved"),
    507: OpenApiResponse(ErrorOutput, description="No room to receive the upload now; nothing was saved"),
}


# An ISO 8601 date or date-time, as list and search filters take them.
DATE_OR_DATETIME = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="Where to continue: taken from a page's `next` or `previous`."),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1},
        description=(
            f"Items per page (default {CursorPagination.page_size}; more than {CursorPagination.max_page_size} "
            f"gives {CursorPagination.max_page_size})."
        ),
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
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and type(field) is serializers.CharField
            and field.trim_whitespace
            and not field.allow_blank
            and "pattern" not in schema
        ):
            # DRF trims the value, then refuses it blank: only spaces are as good as nothing.
            schema["pattern"] = r"\S"
        return schema

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            # Every view reads `?name=` as if the parameter were absent (forms send them so);
            # said where the schema alone would refuse an empty value.
            if parameter["in"] == "query" and schema.get("type") != "array" and schema != {"type": "string"}:
                parameter["allowEmptyValue"] = True
        return parameters

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # One of several shapes (grants, share links), each with required fields of its own.
        return schema, required or isinstance(serializer, PolymorphicProxySerializer)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if "400" not in responses:
            # Any request can be refused as malformed: a query string holding NUL, a body that
            # does not parse, a cursor or page size a list cannot use. (Views document their
            # responses with extend_schema, whose schema class replaces get_response_serializers.)
            responses["400"] = self._get_response_for_code(ERRORS[400], "400", direction=direction)
        return responses

    def get_operation_id(self) -> str:
        # drf-spectacular names an operation `…_list` only when it returns a bare array; a page
        # is a list too, and without this a list and its detail view are both `…_retrieve`.
        operation_id = super().get_operation_id()
        responses = self.get_response_serializers()
        main = responses.get(200) if isinstance(responses, dict) else responses
        if self.method == "GET" and isinstance(main, type) and issubclass(main, PageOutput):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id


def json_or_csv(output, columns: str) -> dict:
    """The 200 answers of a GET that also answers `?export=csv`: `output` as JSON, or the
    same figures as text/csv, whose `columns` are named."""
    return {
        (200, "application/json"): output,
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=f"With `export=csv`; columns: {columns}"),
    }
