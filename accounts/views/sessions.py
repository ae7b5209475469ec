"""The session page (/accounts/sessions/, in place of django-allauth's): signed-in browsers,
signing them out, and the account's recent sign-ins."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, useragent
from accounts.services import sessions
from mediaportal.exceptions import NotFound
from mediaportal.http import client_ip, user_agent

SIGN_INS_SHOWN = 20
REASONS = {"invalid_credentials": "wrong password", "throttled": "too many attempts"}


@login_required
def session_list(request):
    """GET: the list. POST: sign out every other browser."""
    current = request.session.session_key
    if request.method == "POST":
        ended = sessions.sessions_end_others(
            user=request.user, keep_key=current, ip=client_ip(request), user_agent=user_agent(request)
        )
        messages.success(request, f"Signed out {ended} other session{'' if ended == 1 else 's'}.")
        return redirect("usersessions_list")
    rows = [
        {"session": s, "browser": useragent.describe(s.user_agent), "current": s.session_key == current}
        for s in sessions.session_list(user=request.user).order_by("-last_seen_at")
    ]
    sign_ins = [
        {
            "event": event,
            "succeeded": event.verb == "user.login",
            "browser": useragent.describe(event.data.get("user_agent", "")),
            "method": event.data.get("method", ""),
            "mfa": event.data.get("mfa"),
            "reason": REASONS.get(event.data.get("reason"), event.data.get("reason")),
        }
        for event in selectors.sign_in_list(user=request.user)[:SIGN_INS_SHOWN]
    ]
    context = {
        "rows": rows,
        "others": sum(not row["current"] for row in rows),
        "sign_ins": sign_ins,
        "idle_hours": settings.SESSION_IDLE_TIMEOUT / 3600,
    }
    return render(request, "usersessions/usersession_list.html", context)


@login_required
@require_POST
def session_end(request, session_id: int):
    try:
        ended = sessions.session_end(
            user=request.user, session_id=session_id, ip=client_ip(request), user_agent=user_agent(request)
        )
    except NotFound:
        raise Http404 from None
    if ended.session_key == request.session.session_key:
        logout(request)
        return redirect("login")
    messages.success(request, f"Signed out {useragent.describe(ended.user_agent)} at {ended.ip}.")
    return redirect("usersessions_list")
