"""Request-wide error handling that no single view can do."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError

from mediaportal.views import service_unavailable

log = logging.getLogger(__name__)


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
