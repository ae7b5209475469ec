"""The portal layout's navigation: the signed-in user's teams for the team switcher."""

from __future__ import annotations

from accounts.selectors import membership_list_for_user


def portal(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith(("/api/", "/admin/")):
        return {}
    # Lazy: pages that never show the switcher (public share pages) run no query.
    return {"teams": lambda: list(membership_list_for_user(user=user))}
