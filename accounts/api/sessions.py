"""The caller's browser sessions and sign-in history."""

from __future__ import annotations

from django.contrib.auth import logout as session_logout
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.api import serializers as s
from accounts.models import ApiToken
from accounts.services import sessions
from mediaportal.http import client_ip, user_agent
from mediaportal.openapi import PAGE_PARAMETERS, paginated
from mediaportal.openapi import errors as _errors
from mediaportal.pagination import paginate


def _current_key(request) -> str | None:
    """The session key of a request signed in by its session cookie; None for a token."""
    if isinstance(request.auth, ApiToken):
        return None
    return request.session.session_key


class SessionListView(APIView):
    @extend_schema(
        tags=["auth"],
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(s.SessionOutput), **_errors(401)},
        description="Your signed-in browsers, newest first; `current` marks the one asking.",
    )
    def get(self, request):
        listed = sessions.session_list(user=request.user)
        return paginate(self, request, listed, s.SessionOutput, current_key=_current_key(request))


class SessionDetailView(APIView):
    @extend_schema(
        tags=["auth"],
        responses={204: None, **_errors(401, 403, 404)},
        description="Sign that browser out: its next request is anonymous. Ending the session asking signs it out.",
    )
    def delete(self, request, session_id):
        ended = sessions.session_end(
            user=request.user, session_id=session_id, ip=client_ip(request), user_agent=user_agent(request)
        )
        if ended.session_key == _current_key(request):
            session_logout(request._request)  # or the response would save the session anew
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionSignOutOthersView(APIView):
    @extend_schema(
        tags=["auth"],
        request=None,
        responses={200: s.SessionsEndedOutput, **_errors(401, 403)},
        description="Sign out every browser but the one asking (from a token: every browser).",
    )
    def post(self, request):
        ended = sessions.sessions_end_others(
            user=request.user, keep_key=_current_key(request), ip=client_ip(request), user_agent=user_agent(request)
        )
        return Response(s.SessionsEndedOutput({"ended": ended}).data)


class SignInListView(APIView):
    @extend_schema(
        tags=["auth"],
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(s.SignInOutput), **_errors(401)},
        description="Sign-ins to your account, and refused attempts naming it, newest first.",
    )
    def get(self, request):
        return paginate(self, request, selectors.sign_in_list(user=request.user), s.SignInOutput, ordering="-at")
