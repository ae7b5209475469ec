"""Share-link tokens and public file ids stay out of the logs."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config

from mediaportal.logs import GunicornLogger

TOKEN = "Xq3-secretToken_abc"


def _console_line(record: logging.LogRecord) -> str | None:
    """What the configured console handler writes for the record (None: filtered out)."""
    handler = next(
        h for h in logging.getLogger().handlers if any(f.__class__.__name__ == "RedactCapabilities" for f in h.filters)
    )
    return handler.format(record) if handler.filter(record) else None


def test_log_lines_name_share_and_public_paths_without_their_keys():
    for message, args in [
        ("Not Found: %s", (f"/s/{TOKEN}/download",)),
        ("Forbidden (CSRF cookie not set.): /s/%s", (TOKEN,)),
        (f"GET /p/{TOKEN} 404", ()),
    ]:
        record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, message, args, None)
        line = _console_line(record)
        assert line is not None and TOKEN not in line and "[redacted]" in line, line
    assert "/api/v1/tenants/team/shares/" in _console_line(
        logging.LogRecord("x", logging.INFO, __file__, 1, "GET /api/v1/tenants/team/shares/", (), None)
    )


def test_gunicorns_access_log_redacts_the_request_line_path_and_referrer():
    logger = GunicornLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/s/{TOKEN}/zip",
        "PATH_INFO": f"/s/{TOKEN}/zip",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://portal.example/p/{TOKEN}",
        "REMOTE_ADDR": "203.0.113.4",
    }
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = logger.atoms(resp, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    assert atoms["r"] == "GET /s/[redacted]/zip HTTP/1.1" and atoms["U"] == "/s/[redacted]/zip"
    assert atoms["f"] == "https://portal.example/p/[redacted]"
