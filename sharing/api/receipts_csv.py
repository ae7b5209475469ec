"""A link's receipts as CSV: one row per day and network, for a spreadsheet."""

from __future__ import annotations

import csv

from django.http import HttpResponse
from django.utils import timezone

from files.storage import content_disposition

COLUMNS = ["day", "network", "opens", "unlocks", "downloads", "wrong_passwords", "throttled", "last_seen"]


def receipts_csv(*, share_id, rows: list[dict]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition(f"share-{str(share_id)[:8]}-receipts.csv")
    writer = csv.writer(response)
    writer.writerow(COLUMNS)
    for row in rows:
        last_seen = timezone.localtime(row["last_seen"]).isoformat()
        writer.writerow([row["day"].isoformat(), *(row[key] for key in COLUMNS[1:-1]), last_seen])
    return response
