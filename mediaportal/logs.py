"""Log lines: JSON with the request id, and capabilities kept out.

Every line of the web and worker processes is one JSON object (`LOG_FORMAT=json`, the
default) with `time`, `level`, `logger`, `message`, the `request_id` of the request or task
it belongs to (mediaportal.request_id) and whatever `extra` the call gave; `LOG_FORMAT=plain`
writes the classic line for people reading a console.

A share link's token (`/s/<token>`) and a public file's id (`/p/<id>`) are the keys to what
they open: anyone who can read an access log or an error line must not be able to use them.
Every log line of the web processes passes `RedactCapabilities` (LOGGING in settings), and
gunicorn's access log uses `GunicornLogger` (`--logger-class`), which logs those paths with
the key left out.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime

from gunicorn.glogging import Logger
from pythonjsonlogger.json import JsonFormatter

from mediaportal.request_id import request_id_get

# "/s/<token>" or "/p/<id>" (with what follows the key kept: "/download", "/zip").
CAPABILITY_PATH = re.compile(r"(/[sp]/)[^/\s?#\"']+")
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    return CAPABILITY_PATH.sub(REDACTED, text)


def log_format() -> str:
    """LOG_FORMAT as the settings read it, for gunicorn's master, which never loads them."""
    return os.environ.get("LOG_FORMAT") or "json"


class RedactCapabilities(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # On the whole message: a key may sit in the format string or in an argument.
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id (when
    the line belongs to a request or a task), then the call's `extra` fields."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", **kwargs)

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)
        request_id = log_data.pop("request_id", None) or request_id_get()
        if request_id:
            log_data["request_id"] = request_id


class PlainLogFormatter(logging.Formatter):
    """For a person at a console (LOG_FORMAT=plain): time, level, logger, the request id in
    brackets when the line belongs to a request or a task, the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_id_shown)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or request_id_get()
        record.request_id_shown = f" [{request_id}]" if request_id else ""
        return super().format(record)


class GunicornLogger(Logger):
    """gunicorn's logger: request lines, paths and referrers redacted in the access log, and
    with LOG_FORMAT=json both of its logs as JSON lines, the access line carrying the request
    id the response was sent with."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        if log_format() == "json":
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    if getattr(handler, "_gunicorn", False):
                        handler.setFormatter(JsonLogFormatter())
                        handler.addFilter(RedactCapabilities())

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms

    def access(self, resp, req, environ, request_time) -> None:
        if log_format() != "json":
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        fields = {
            "request_id": atoms.get("{x-request-id}o"),
            "method": atoms["m"],
            "path": atoms["U"],
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": round(atoms["D"] / 1000, 1),
            "remote_addr": atoms["h"],
            "user_agent": atoms["a"],
            "referrer": atoms["f"],
        }
        try:
            self.access_log.info("%s %s", atoms["r"], atoms["s"], extra=fields)
        except Exception:  # noqa: BLE001 - as gunicorn's own access(): a log line never fails a request
            self.exception("access log line failed")
