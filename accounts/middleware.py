"""Signs out a browser that has been idle longer than SESSION_IDLE_TIMEOUT, and keeps the
session list's last-seen time."""

from __future__ import annotations

import time
from contextlib import suppress

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.db import DatabaseError
from django.utils import timezone

LAST_SEEN = "_last_seen"
# The session is written at most this often (seconds) just to move the mark: every request
# would otherwise rewrite it.
RESOLUTION = 60


class SessionIdleTimeoutMiddleware:
    """It stands in for allauth's activity tracking (off: it rewrote the session's row on
    every request). A session signed out here goes on anonymous: a portal page redirects to
    the login page, an API call with the cookie alone gets 401/403, and a call with a token is
    authenticated by its token as always."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timeout = settings.SESSION_IDLE_TIMEOUT
        session = getattr(request, "session", None)
        # Only the session's own keys are read: API requests with a token never load a user here.
        if session is not None and SESSION_KEY in session:
            now = int(time.time())
            last = session.get(LAST_SEEN)
            if timeout and last is not None and now - last > timeout:
                request.sign_out_reason = "idle"  # for the audit event (accounts.receivers)
                logout(request)
                if not request.path.startswith("/api/"):
                    messages.info(request, "You were signed out after a while without activity.")
            elif last is None or now - last >= RESOLUTION:
                session[LAST_SEEN] = now
                # The session list shows when each browser was last seen, to the minute. Never
                # worth failing a request over: a database that is away is the view's 503.
                with suppress(DatabaseError):
                    UserSession.objects.filter(session_key=session.session_key).update(last_seen_at=timezone.now())
        return self.get_response(request)
