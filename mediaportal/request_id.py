"""The id of the request being served (or of the request whose task is running).

Taken from the client's `X-Request-ID` when it is a plain token, else made here; returned on
every response, written into every log line (mediaportal.logs) and carried to the tasks the
request queues (mediaportal.celery), so one id finds a request's whole story across the web
and worker processes.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

# Letters, digits, dot, underscore and hyphen, as load balancers and tracing tools make them:
# nothing that could split a log line or a header, and short enough to index.
SANE = re.compile(r"[A-Za-z0-9._-]{1,128}")
HEADER = "X-Request-ID"

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_get() -> str | None:
    return _current.get()


def request_id_set(value: str | None) -> None:
    """Bind `value` to this thread's context (None: no request). Each request and task sets
    its own on the way in, so a thread reused for the next one never keeps the last one's."""
    _current.set(value)


def request_id_sane(value: object) -> bool:
    return isinstance(value, str) and SANE.fullmatch(value) is not None


def request_id_for(header: str | None) -> str:
    """The client's id when it is sane, else a new one (uuid4, 32 hex digits)."""
    return header if request_id_sane(header) else uuid.uuid4().hex
