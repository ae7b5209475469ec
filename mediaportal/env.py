"""Where the settings come from: the environment, else what the embedded stack wrote for
itself under var/ (`var/embedded.json`), else a safe local default.

Kept apart from mediaportal/settings.py, which reads these and holds only settings.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MEDIAPORTAL_VAR_DIR", BASE_DIR / "var")).resolve()


def _embedded() -> dict[str, str]:
    """Connection details the embedded stack wrote at its last start (empty when absent)."""
    try:
        return json.loads((VAR_DIR / "embedded.json").read_text())
    except (OSError, ValueError):
        return {}


EMBEDDED = _embedded()


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name) or EMBEDDED.get(name) or default


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    return int(value) if value else default


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if not value:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    return [item.strip() for item in value.split(",") if item.strip()] if value else default


def metrics_dir() -> Path:
    """Where each process keeps its Prometheus values (mediaportal.metrics): in the environment
    before anything imports prometheus_client, which picks its storage at import."""
    path = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "metrics")))
    path.mkdir(parents=True, exist_ok=True)
    return path


def local_secret_key() -> str:
    """A random key made once for this var/ folder (0600), so a fresh checkout needs no setup
    and no two installations share a key."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50))
        # link() refuses to replace a key another process made meanwhile, and readers never
        # see a half-written file.
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
