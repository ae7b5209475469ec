"""Team settings → Analytics: the dashboard."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.portal import tenant_page
from analytics import selectors
from analytics.forms import UsageRangeForm
from analytics.selectors.usage import usage_range_check
from analytics.services.cost import cost_summary
from mediaportal.exceptions import ValidationFailed

HISTORY_DAYS = 90
TOP = 20  # labels and tags shown (chart and table alike)
API = "/api/v1/tenants/{slug}/analytics/{endpoint}/"
# by_folder's row of the files outside any folder (its path is "/").
ROOT_LABEL = "Not in a folder"


@require_GET
@tenant_page
def analytics_dashboard(request, membership):
    """Everything the analytics endpoints answer, as tables (the content) and charts drawn from
    the same numbers. Each part reads one roll-up, so the page costs a fixed number of queries
    however many files and events the team has. The selectors refuse members (403 page)."""
    form = UsageRangeForm(request.GET or None)
    usage, interval = _usage(membership, form)
    storage = selectors.storage_summary(membership=membership)
    history = selectors.storage_history(membership=membership, days=HISTORY_DAYS)["results"]
    types = selectors.file_types(membership=membership)["results"]
    categories = selectors.categories(membership=membership)
    cost = cost_summary(membership=membership)
    labels, tags = _top(categories["labels"]), _top(categories["tags"])
    slug = membership.tenant.slug
    context = {
        "membership": membership,
        "section": "settings",
        "form": form,
        "storage": storage,
        "percent": {
            "coverage": _percent(storage["replica_coverage"], 1),
            "quota": _percent(storage["used_bytes"], storage["quota_bytes"]),
            "budget": None if cost["budget_used_ratio"] is None else _percent(cost["budget_used_ratio"], 1),
        },
        "history": history,
        "types": types,
        "usage": usage,
        "labels": labels,
        "tags": tags,
        "cost": cost,
        "interval": interval,
        "root_label": ROOT_LABEL,
        "csv": {name.replace("-", "_"): API.format(slug=slug, endpoint=name) + "?export=csv" for name in ENDPOINTS},
        "usage_query": form.query(),
        "charts": _charts(storage, history, types, usage, labels, tags, cost),
    }
    return render(request, "analytics/dashboard.html", context)


def _usage(membership, form: UsageRangeForm) -> tuple[list[dict], str]:
    """The activity of the period asked for; a range the API would refuse (too long) is said
    next to the form, and the default period shown instead."""
    start, end, interval = form.period()
    try:
        usage_range_check(start=start, end=end, interval=interval)
    except ValidationFailed as exc:
        form.add_error("to", exc.detail)
        start, end, interval = form.period()
    return selectors.usage_series(membership=membership, start=start, end=end, interval=interval)["results"], interval


ENDPOINTS = ["storage", "file-types", "usage", "categories", "cost", "activity"]


def _percent(part, whole) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _top(counts: dict) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]


def _chart(kind: str, unit: str, labels: list, **series: list) -> dict:
    """What analytics.js draws: one dataset per series, its name the table's column."""
    return {
        "kind": kind,
        "unit": unit,
        "labels": labels,
        "series": [{"label": k, "data": v} for k, v in series.items()],
    }


def _column(rows: list, key: str) -> list:
    return [row[key] for row in rows]


USAGE_SERIES = {
    "Uploads": "uploads",
    "Downloads": "downloads",
    "Views": "views",
    "Share hits": "share_hits",
    "Active users": "active_users",
}


def _charts(storage, history, types, usage, labels, tags, cost) -> dict:
    by_user, by_folder = storage["by_user"], storage["by_folder"]
    return {
        "storage-history": _chart(
            "line",
            "bytes",
            _column(history, "date"),
            Logical=_column(history, "logical_bytes"),
            Physical=_column(history, "physical_bytes"),
            Archive=_column(history, "archive_bytes"),
        ),
        "file-types": _chart("doughnut", "bytes", _column(types, "content_type"), Size=_column(types, "bytes")),
        "by-user": _chart("bar", "bytes", _column(by_user, "user"), Size=_column(by_user, "bytes")),
        "by-folder": _chart(
            "bar",
            "bytes",
            [row["path"] if row["folder"] else ROOT_LABEL for row in by_folder],
            Size=_column(by_folder, "bytes"),
        ),
        "usage": _chart(
            "line",
            "count",
            _column(usage, "period"),
            **{name: _column(usage, key) for name, key in USAGE_SERIES.items()},
        ),
        "labels": _chart("bar", "count", [name for name, _ in labels], Files=[count for _, count in labels]),
        "tags": _chart("bar", "count", [name for name, _ in tags], Files=[count for _, count in tags]),
        "cost": _cost_chart(cost),
    }


def _cost_chart(cost: dict) -> dict:
    """Each tier's estimate, and the total beside the monthly budget (when there is one)."""
    tiers = cost["by_tier"]
    estimate = [float(value["cost"]) for value in tiers.values()] + [float(cost["estimated_monthly_cost"])]
    labels = [tier.capitalize() for tier in tiers] + ["Total"]
    if cost["monthly_budget"] is None:
        return _chart("bar", "money", labels, **{"Estimated per month": estimate})
    budget = [None] * len(tiers) + [float(cost["monthly_budget"])]
    return _chart("bar", "money", labels, **{"Estimated per month": estimate, "Monthly budget": budget})
