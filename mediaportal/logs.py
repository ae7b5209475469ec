"""Logging that keeps capabilities out of the logs.

A share link's token (`/s/<token>`) and a public file's id (`/p/<id>`) are the keys to what
they open: anyone who can read an access log or an error line must not be able to use them.
Every log line of the web processes passes `RedactCapabilities` (LOGGING in settings), and
gunicorn's access log uses `GunicornLogger` (`--logger-class`), which logs those paths with
the key left out.
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

# "/s/<token>" or "/p/<id>" (with what follows the key kept: "/download", "/zip").
CAPABILITY_PATH = re.compile(r"(/[sp]/)[^/\s?#\"']+")
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    return CAPABILITY_PATH.sub(REDACTED, text)


class RedactCapabilities(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # On the whole message: a key may sit in the format string or in an argument.
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class GunicornLogger(Logger):
    """gunicorn's logger, with request lines, paths and referrers redacted in the access log."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
