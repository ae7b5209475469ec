"""A private embedded stack for one benchmark: started under a temporary folder, PostgreSQL
sized for millions of rows, migrated, Django set up against it, all removed afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.search_data import tune
from mediaportal.embedded import EmbeddedStack

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def django_on_private_stack(name: str, *, shared_buffers: str, **services: bool) -> Iterator[dict]:
    """Yields the environment the stack wrote (its service URLs); `services` are
    EmbeddedStack.start's switches (postgres, redis, s3, replica)."""
    var_dir = Path(tempfile.mkdtemp(prefix=f"mp-bench-{name}-"))
    stack = EmbeddedStack(var_dir=var_dir, log=print)
    try:
        print("starting the embedded stack ...", flush=True)
        env = {**os.environ, **stack.start(**services), "MEDIAPORTAL_VAR_DIR": str(var_dir)}
        env.pop("DEBUG", None)
        tune(var_dir / "pg", env["EMBEDDED_PG_SOCKET_DIR"], shared_buffers)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")
        import django  # noqa: PLC0415 - set up only once the environment names the private stack

        django.setup()
        yield env
    finally:
        stack.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
