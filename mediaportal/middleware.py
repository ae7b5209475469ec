"""Request-wide checks and error handling that no single view can do."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from mediaportal.maintenance import maintenance_state
from mediaportal.views import bad_request, maintenance_unavailable, service_unavailable, wants_json

log = logging.getLogger(__name__)


class RejectNulMiddleware:
    """Refuses (400) a path or query string holding a NUL character.

    PostgreSQL text cannot store NUL, so a filter, search or cursor value holding one made the
    database driver raise (a 500) wherever a view passed it on, and no name, tag or id contains
    one. Bodies are checked where they are parsed: DRF's string fields refuse NUL.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            if not wants_json(request):
                return bad_request(request)
            # The code DRF gives a body string holding NUL.
            body = {"detail": "Text may not contain NUL characters.", "code": "null_characters_not_allowed"}
            return JsonResponse(body, status=400)
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """The database going away mid-request (a restart, a failover, the server unreachable)
    is a 503 to retry, not a 500. The transaction rolled back, so nothing of the request
    was kept; Django drops the broken connection when the request ends, and the next
    request connects again (CONN_HEALTH_CHECKS), without restarting the process."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable during %s %s: %s", request.method, request.path, exception)
        return service_unavailable(request, code="database_unavailable")


class MaintenanceMiddleware:
    """While a restore rebuilds the database (mediaportal.maintenance), every request but
    the probes is a 503 with Retry-After, answered before anything reads the database (the
    session's user is loaded later in the chain). /healthz stays 200: the process is alive;
    /readyz says why it is not ready."""

    PROBES = frozenset({"/healthz", "/readyz"})

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path not in self.PROBES:
            state = maintenance_state()
            if state is not None:
                return maintenance_unavailable(request, state=state)
        return self.get_response(request)
