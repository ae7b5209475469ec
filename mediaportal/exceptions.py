"""One error family for the whole product, rendered as JSON `{"detail", "code"}`.

Services raise `ApplicationError` subclasses; the DRF handler below turns those, DRF's own
exceptions and Django's 404/permission errors into the same shape, so clients can rely on
`code` whatever layer refused the request.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response


class ApplicationError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, code: str | None = None, extra: dict | None = None):
        self.detail = detail or self.default_detail
        self.code = code or self.default_code
        self.extra = extra or {}
        super().__init__(self.detail)


class ValidationFailed(ApplicationError):
    pass


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_detail = "Not found."


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class PayloadTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"
    default_detail = "The upload is too large."


class InsufficientStorage(ApplicationError):
    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_code = "insufficient_storage"
    default_detail = "The server has no room to receive this upload right now; nothing was saved. Try again later."


class UnsupportedMediaType(ApplicationError):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_media_type"
    default_detail = "This type of file is not accepted."


class ServiceUnavailable(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "A backing service is unavailable; try again shortly."


def _first_message(detail) -> tuple[str, str]:
    """The first human message and code inside a DRF error structure."""
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        message, code = _first_message(value)
        if key not in ("non_field_errors", "detail"):
            message = f"{key}: {message}"
        return message, code
    return str(detail), getattr(detail, "code", "invalid") or "invalid"


def api_exception_handler(exc, context):
    # Imported here: rest_framework.views imports the authentication classes, which import
    # services, which import this module.
    from rest_framework.views import exception_handler

    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.detail, "code": exc.code, **exc.extra}, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        message, code = _first_message(exc.detail)
        # A field-level code like "required" or "blank" is still an invalid request;
        # custom codes raised by serializers (e.g. "username_taken") pass through.
        generic = {
            "invalid",
            "required",
            "blank",
            "null",
            "max_length",
            "min_length",
            "invalid_choice",
            "does_not_exist",
        }
        response.data = {
            "detail": message,
            "code": "invalid" if code in generic else code,
            "errors": exc.detail,
        }
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"detail": str(detail), "code": code}
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
            response.data["retry_after"] = int(exc.wait + 0.999)
    return response


def parse_id(value, what: str = "Object") -> uuid.UUID:
    """A UUID from a URL or body; anything else is simply "not found", like a foreign id."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} not found.") from None
