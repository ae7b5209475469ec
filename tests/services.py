"""pytest plugin: real PostgreSQL, Redis and S3 for the whole run.

Loaded with `-p tests.services` so it runs before pytest-django imports the settings.
Services the environment already names (DATABASE_URL, REDIS_URL, S3_ENDPOINT_URL) are
used as they are; the others are started from the embedded stack in a fresh temporary
folder and stopped when the run ends.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import pytest

_stack = None
_var_dir: Path | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _stack, _var_dir
    if os.environ.get("MEDIAPORTAL_TEST_STACK_READY"):  # an xdist worker: the controller started it
        return
    from mediaportal.embedded import EmbeddedStack

    _var_dir = Path(tempfile.mkdtemp(prefix="mp-test-"))
    # A fresh var dir also keeps a developer's running stack (var/embedded.json) out of the tests.
    os.environ["MEDIAPORTAL_VAR_DIR"] = str(_var_dir)
    wanted = {
        "postgres": not os.environ.get("DATABASE_URL"),
        "redis": not os.environ.get("REDIS_URL"),
        "s3": not os.environ.get("S3_ENDPOINT_URL"),
    }
    if any(wanted.values()):
        started = time.monotonic()
        _stack = EmbeddedStack(var_dir=_var_dir, log=lambda line: None)
        os.environ.update(_stack.start(**wanted))
        print(f"embedded services for tests started in {time.monotonic() - started:.1f} s under {_var_dir}")
    # A throwaway key for the run: with services named in the environment (or a test database
    # handed to a child process) the settings see a deployment, which needs one.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["MEDIAPORTAL_TEST_STACK_READY"] = "1"


def pytest_unconfigure(config):
    global _stack
    if _stack is not None:
        _stack.stop()
        _stack = None
    if _var_dir is not None:
        shutil.rmtree(_var_dir, ignore_errors=True)
