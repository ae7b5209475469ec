from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from accounts.models import TokenScope
from accounts.services.users import token_authenticate


class ReadOnlyToken(exceptions.PermissionDenied):
    default_detail = "This token may only read (scope `read`): use a `write` token to change anything."
    default_code = "read_only_token"


class RestrictedToken(exceptions.PermissionDenied):
    default_detail = (
        "This token is restricted to one team: outside it, it may only read your own account. "
        "Use a session or an unrestricted token."
    )
    default_code = "token_restricted"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>`; expired, revoked or unknown keys get 401.

    A token's scope is kept here, where every API request with a key passes, rather than in a
    permission class that a view setting its own `permission_classes` would leave out: a
    `read` token's request with an unsafe method is refused before any view runs. So is a
    token restricted to one team asking to change anything but that team's things (views
    with `allows_restricted_tokens`: those under `tenants/{slug}/`, which answer 404 for any
    other team): it may not make tokens, end sessions, create teams or change the account.
    """

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.", code="invalid_token")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token header.", code="invalid_token") from None
        token = token_authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.", code="invalid_token")
        if request.method not in permissions.SAFE_METHODS:
            if token.scope == TokenScope.READ:
                raise ReadOnlyToken()
            view = (getattr(request, "parser_context", None) or {}).get("view")
            if token.tenant_id is not None and not getattr(view, "allows_restricted_tokens", False):
                raise RestrictedToken()
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                'API key, sent as "Token <key>". A token of scope `read` may only use GET, HEAD and '
                'OPTIONS: any other method answers 403 `{"code": "read_only_token"}`. A token restricted '
                "to one team (`tenant`) sees no other team (404) and changes nothing outside it: 403 "
                '`{"code": "token_restricted"}`.'
            ),
        }
