"""The portal layout's navigation: the signed-in user's teams for the team switcher."""

from __future__ import annotations

from accounts.selectors import membership_list_for_user


def portal(request) -> dict:
    # Lazy, user included: only the team layout asks for the teams, and an error page (the
    # database gone, say) must render without touching the database at all.
    def teams() -> list:
        user = request.user
        return list(membership_list_for_user(user=user)) if user.is_authenticated else []

    return {"teams": teams}
