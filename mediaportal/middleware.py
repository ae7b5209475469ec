"""Request-wide checks and error handling that no single view can do."""

from __future__ import annotations

import logging
import time

from django.core.signals import request_finished
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from mediaportal.maintenance import maintenance_state
from mediaportal.metrics import REQUEST_SECONDS, status_class
from mediaportal.request_id import HEADER, request_id_for, request_id_set
from mediaportal.views import bad_request, maintenance_unavailable, service_unavailable, wants_json

log = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Gives the request its id (the client's `X-Request-ID` when sane, else a new one) for
    the log lines and the tasks it makes, and returns it in the `X-Request-ID` header.

    First in the chain, so every answer carries it: a maintenance 503, a 404, a 500 (Django
    turns an exception into its response inside each middleware below this one). The id
    stays bound until the response is closed: Django logs a 4xx or 5xx after the middleware
    chain has returned, and a streamed body logs while it is sent.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_for(request.headers.get(HEADER))
        request_id_set(request.request_id)
        response = self.get_response(request)
        response[HEADER] = request.request_id
        return response


def _forget_request_id(**kwargs) -> None:
    request_id_set(None)


request_finished.connect(_forget_request_id, dispatch_uid="mediaportal.request_id")


class RequestMetricsMiddleware:
    """Times every request into mediaportal_http_request_duration_seconds, by the URL name
    of its view ("unresolved" when none matched: a 404, or an answer before URL resolution)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "unresolved"
        REQUEST_SECONDS.labels(
            view=view, method=_method(request.method), status=status_class(response.status_code)
        ).observe(time.perf_counter() - started)
        return response


# Any other method is one label value: a client cannot mint label values (series) at will.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(method: str | None) -> str:
    return method if method in _METHODS else "other"


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

    PROBES = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path not in self.PROBES:
            state = maintenance_state()
            if state is not None:
                return maintenance_unavailable(request, state=state)
        return self.get_response(request)
