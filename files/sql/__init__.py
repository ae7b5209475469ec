"""The SQL that migrations install (functions, triggers, configurations, indexes), by name.

`load_sql("search/vector_function.v2")` is the text of `search/vector_function.v2.sql` next
to this module; see README.md for the naming and what each file holds.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def load_sql(*names: str) -> str:
    """The text of each named file (`<folder>/<object>.v<N>`, without `.sql`), in order, joined.

    A missing file raises FileNotFoundError, so a migration naming one fails on import.
    """
    return "\n".join((ROOT / f"{name}.sql").read_text(encoding="utf-8") for name in names)
