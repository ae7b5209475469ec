"""The alert banner of every team page (templates/analytics/_alert_banners.html, included by
the team layout): accounts, whose layout it is, may not import analytics."""

from __future__ import annotations

from analytics.selectors import alert_banners


def alerts(request) -> dict:
    # Lazy and remembered: only a team page's layout asks, once however often it looks, so a
    # page outside a team reads nothing, and a team page the cache (a query when it misses).
    found: list | None = None

    def team_alerts() -> list:
        nonlocal found
        if found is None:
            membership = getattr(request, "membership", None)  # set by accounts.portal.tenant_page
            found = alert_banners(tenant_id=membership.tenant_id) if membership is not None else []
        return found

    return {"team_alerts": team_alerts}
