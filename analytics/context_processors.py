"""The alert banner of every team page (templates/analytics/_alert_banners.html, included by
the team layout): accounts, whose layout it is, may not import analytics."""

from __future__ import annotations

from analytics.selectors import alert_banners


def alerts(request) -> dict:
    # Lazy and remembered: only a team page's layout asks, once however often it looks, so a
    # page outside a team makes no query and a team page one.
    found: list | None = None

    def team_alerts() -> list:
        nonlocal found
        if found is None:
            match = getattr(request, "resolver_match", None)
            slug = match.kwargs.get("tenant_slug") if match else None
            user = getattr(request, "user", None)
            found = alert_banners(user=user, tenant_slug=slug) if slug and user and user.is_authenticated else []
        return found

    return {"team_alerts": team_alerts}
