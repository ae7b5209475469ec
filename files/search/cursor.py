"""The search's page cursor: an opaque token for the offset of the next page.

The API's `search/` and the portal's search page page through the same backend with it.
"""

from __future__ import annotations

import base64

from mediaportal.exceptions import ValidationFailed

# Deeper than this, ranking every match again for each page costs more than anyone reads.
MAX_OFFSET = 10_000


def offset_encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def offset_decode(raw: str | None) -> int:
    """The offset a cursor stands for (0 without one); 400 `invalid_cursor` for anything else."""
    if not raw:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(raw.encode()).decode().partition(":")
        offset = int(value)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("Invalid cursor.", code="invalid_cursor") from None
    if kind != "o" or not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed("Invalid cursor.", code="invalid_cursor")
    return offset
