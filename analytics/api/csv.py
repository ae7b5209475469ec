"""`?export=csv` for the analytics endpoints: the same figures as the JSON, as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter

from mediaportal.exceptions import ValidationFailed

EXPORT_PARAMETER = OpenApiParameter(
    "export", str, enum=["csv"], description="`csv`: the same figures as a CSV file (`text/csv`)"
)
# A spreadsheet runs a cell starting with one of these as a formula; file names and audit
# text come from users, so such cells get a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def wants_csv(request) -> bool:
    """Whether `?export=csv` was asked for (400 for another export format)."""
    export = request.query_params.get("export")
    if export in (None, ""):
        return False
    if export != "csv":
        raise ValidationFailed("export must be csv.", code="invalid_export")
    return True


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _line(writer, buffer: io.StringIO, values) -> str:
    writer.writerow([_cell(value) for value in values])
    line = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return line


def _lines(columns: list[str], rows: Iterable[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield _line(writer, buffer, columns)
    for row in rows:
        yield _line(writer, buffer, (row.get(column) for column in columns))


def _filename(name: str, tenant_slug: str) -> str:
    return f"{tenant_slug}-{name}-{timezone.now():%Y%m%d-%H%M}.csv"


def csv_response(*, name: str, tenant_slug: str, columns: list[str], rows: Iterable[dict]) -> HttpResponse:
    """A CSV download of `rows` (dicts; `columns` picks and orders their keys)."""
    response = HttpResponse("".join(_lines(columns, rows)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(name, tenant_slug)}"'
    return response


def csv_stream(*, name: str, tenant_slug: str, columns: list[str], rows: Iterable[dict]) -> StreamingHttpResponse:
    """As csv_response, written while `rows` is read (for exports of any length)."""
    response = StreamingHttpResponse(_lines(columns, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(name, tenant_slug)}"'
    response["Cache-Control"] = "no-store"
    return response
