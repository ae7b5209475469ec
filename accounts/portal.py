"""What every team page of the portal shares: who is asking, in which team, and how a
refusal looks in a browser.

Files and sharing build their pages on `tenant_page`, so a page that forgets the membership
check cannot exist, and a foreign team, file or folder is the same 404 page everywhere.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from accounts.selectors import membership_get
from accounts.services.mfa import TenantRequiresMfa, tenant_mfa_check
from mediaportal.exceptions import Forbidden, NotFound


def tenant_page(view):
    """A portal view of one team: `view(request, membership, **kwargs)`.

    The URL names the team by `tenant_slug`; the caller must be signed in and a member.
    An object the caller may not see (NotFound) is the 404 page, a refusal the 403 page.
    """

    @login_required
    @wraps(view)
    def wrapper(request, tenant_slug: str, **kwargs):
        try:
            membership = membership_get(user=request.user, tenant_slug=tenant_slug)
            tenant_mfa_check(membership=membership)
            # For the layout's context processors (the alert banner): whose team page this is.
            request.membership = membership
            return view(request, membership, **kwargs)
        except NotFound:
            raise Http404 from None
        except TenantRequiresMfa as exc:
            context = {"tenant": membership.tenant, "detail": exc.detail}
            return render(request, "accounts/mfa_required.html", context, status=exc.status_code)
        except Forbidden:
            raise PermissionDenied from None

    return wrapper
