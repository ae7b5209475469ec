"""Error pages: JSON for API clients, HTML for browsers."""

from __future__ import annotations

from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults


def wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


# Django answers errors raised outside DRF (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a Host
# header not in ALLOWED_HOSTS, a PermissionDenied in plain Django code) with these
# handlers; API clients get the same {"detail", "code"} as from DRF, browsers the pages.


def bad_request(request, exception=None):
    if not wants_json(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse({"detail": "The request body is too large.", "code": "request_too_large"}, status=413)
    if isinstance(exception, DisallowedHost):
        return JsonResponse({"detail": "This host name is not served here.", "code": "disallowed_host"}, status=400)
    return JsonResponse({"detail": "The request could not be understood.", "code": "bad_request"}, status=400)


def permission_denied(request, exception=None):
    if wants_json(request):
        detail = "You do not have permission to perform this action."
        return JsonResponse({"detail": detail, "code": "permission_denied"}, status=403)
    return defaults.permission_denied(request, exception)


def not_found(request, exception=None):
    if wants_json(request):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return render(request, "404.html", status=404)


def service_unavailable(request, *, code: str):
    """A backing service went away mid-request: nothing was kept; try again shortly."""
    if wants_json(request):
        detail = "A backing service is unavailable; nothing was saved. Try again shortly."
        response = JsonResponse({"detail": detail, "code": code}, status=503)
    else:
        # Plain, like 500.html: rendering the site's layout could need the service that is away.
        response = render(request, "503.html", status=503)
    response["Retry-After"] = "5"
    return response


def maintenance_unavailable(request, *, state: dict):
    """The site is in maintenance (a restore is running): try again after Retry-After."""
    retry_after = str(state.get("retry_after") or 30)
    if wants_json(request):
        detail = "MediaPortal is being restored from a backup; try again in a few minutes."
        response = JsonResponse({"detail": detail, "code": "maintenance"}, status=503)
    else:
        response = render(request, "maintenance.html", {"retry_after": retry_after}, status=503)
    response["Retry-After"] = retry_after
    return response


def server_error(request):
    if wants_json(request):
        return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)
    return render(request, "500.html", status=500)
