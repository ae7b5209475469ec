"""Browser sessions (django-allauth's usersessions) and the sign-in audit trail.

Sessions live in the cache (SESSION_ENGINE); allauth's UserSession rows say whose they are,
from which address and browser, and when each was last seen. Ending one deletes its cache
entry, so a browser holding that cookie is anonymous from its next request on.

Sign-ins, failed sign-ins and sign-outs are user-level audit events (no tenant): `user.login`,
`user.login_failed`, `user.logout`, each with the address and the browser's User-Agent. The
account a failure was about is its target, so its owner sees it in their recent sign-ins.
"""

from __future__ import annotations

from allauth.usersessions.adapter import get_adapter as usersessions_adapter
from allauth.usersessions.models import UserSession
from django.db import transaction
from django.db.models import QuerySet

from accounts.models import ActivityEvent, User
from accounts.services.audit import event_record
from mediaportal.exceptions import NotFound

USER_AGENT_MAX = 300
USERNAME_MAX = 150
SIGN_IN_VERBS = ("user.login", "user.login_failed")


# --- Sessions ---------------------------------------------------------------------


def session_list(*, user: User) -> QuerySet[UserSession]:
    """The user's live browser sessions.

    Rows whose session has ended (signed out, expired, evicted from the cache, or signed by an
    old password) are deleted first, as allauth's own list does: one cache read per session.
    """
    UserSession.objects.purge_and_list(user)
    return UserSession.objects.filter(user=user)


def session_get(*, user: User, session_id) -> UserSession:
    session = UserSession.objects.filter(user=user, pk=session_id).first() if str(session_id).isdigit() else None
    if session is None or session.purge():
        raise NotFound("Session not found.")
    return session


def _end(*, user: User, sessions: list[UserSession], ip: str | None, user_agent: str) -> int:
    if sessions:
        with transaction.atomic():
            usersessions_adapter().end_sessions(sessions)  # deletes each cache entry, then its row
            event_record(
                verb="user.sessions_ended",
                actor=user,
                target=user,
                ip=ip,
                data={
                    "count": len(sessions),
                    "user_agent": user_agent[:USER_AGENT_MAX],
                    "sessions": [{"ip": s.ip, "user_agent": s.user_agent[:USER_AGENT_MAX]} for s in sessions],
                },
            )
    return len(sessions)


def session_end(*, user: User, session_id, ip: str | None = None, user_agent: str = "") -> UserSession:
    """Sign one of the user's sessions out. When it is the caller's own, the caller must also
    flush its request's session (django.contrib.auth.logout), or the response would save it anew."""
    session = session_get(user=user, session_id=session_id)
    _end(user=user, sessions=[session], ip=ip, user_agent=user_agent)
    return session


def sessions_end_others(*, user: User, keep_key: str | None, ip: str | None = None, user_agent: str = "") -> int:
    """Sign out every session of the user but `keep_key` (the caller's own; None: all of them).
    Returns how many ended."""
    others = [s for s in UserSession.objects.filter(user=user) if s.session_key != keep_key]
    return _end(user=user, sessions=others, ip=ip, user_agent=user_agent)


# --- Sign-in events -----------------------------------------------------------------


def sign_in_record(
    *, user: User, ip: str | None, user_agent: str, method: str, mfa: str | None = None
) -> ActivityEvent:
    """A successful sign-in: `method` is `password`, `token` (the API login), `sso:<provider>`,
    …; `mfa` the second factor used, if any."""
    data = {"user_agent": user_agent[:USER_AGENT_MAX], "method": method}
    if mfa:
        data["mfa"] = mfa
    return event_record(verb="user.login", actor=user, target=user, ip=ip, data=data)


def sign_in_failed_record(*, username: str, ip: str | None, user_agent: str, method: str, reason: str) -> ActivityEvent:
    """A refused sign-in (`reason`: `invalid_credentials`, `throttled`, …). The account it
    named, when there is one, is the target, so its owner sees the attempt; the actor is
    nobody, since nobody proved who they were."""
    tried = username.strip()
    account = None
    if tried:
        accounts = User.objects.only("id", "username")
        account = accounts.filter(username__iexact=tried).first()
        if account is None and "@" in tried:
            account = accounts.filter(email__iexact=tried).first()
    data = {
        "username": tried[:USERNAME_MAX],
        "user_agent": user_agent[:USER_AGENT_MAX],
        "method": method,
        "reason": reason,
    }
    return event_record(verb="user.login_failed", target=account, ip=ip, data=data)


def sign_out_record(
    *, user: User, ip: str | None, user_agent: str, method: str = "session", reason: str = "signed_out"
) -> ActivityEvent:
    """A sign-out of a browser session or (`method` `token`) of the API token used to ask;
    `reason` is `signed_out` (the user asked) or `idle` (SESSION_IDLE_TIMEOUT)."""
    data = {"user_agent": user_agent[:USER_AGENT_MAX], "method": method, "reason": reason}
    return event_record(verb="user.logout", actor=user, target=user, ip=ip, data=data)
