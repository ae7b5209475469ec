"""Accounts API: each view validates input, calls one service or selector, shapes output."""

from __future__ import annotations

from django.contrib.auth import logout as session_logout
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.api import serializers as s
from accounts.api.mixins import TenantScopedMixin, token_tenant_id
from accounts.models import ApiToken
from accounts.services import email, mfa, tenants, users
from mediaportal.http import client_ip, user_agent
from mediaportal.openapi import PAGE_PARAMETERS, paginated
from mediaportal.openapi import errors as _errors
from mediaportal.pagination import paginate
from mediaportal.ratelimit import AnonRateThrottle

# --- Authentication ---------------------------------------------------------------


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AnonRateThrottle]

    @extend_schema(tags=["auth"], request=s.RegisterInput, responses={201: s.RegisterOutput, **_errors(400, 429)})
    def post(self, request):
        data = s.RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, tenant, key = users.user_register(**data.validated_data, ip=client_ip(request))
        email.verification_send(request=request, user=user)
        body = s.RegisterOutput({"user": user, "tenant": tenant, "token": key}).data
        return Response(body, status=status.HTTP_201_CREATED)


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        tags=["auth"],
        request=s.LoginInput,
        responses={200: s.LoginOutput, **_errors(400, 401, 429)},
    )
    def post(self, request):
        data = s.LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user, token, key = users.login(**data.validated_data, ip=client_ip(request), user_agent=user_agent(request))
        except users.LoginThrottled as exc:
            response = Response({"detail": exc.detail, "code": exc.code, **exc.extra}, status=429)
            response["Retry-After"] = str(exc.extra["retry_after"])
            return response
        return Response(s.LoginOutput({"token": key, "expires_at": token.expires_at, "user": user}).data)


class LogoutView(APIView):
    allows_restricted_tokens = True  # it revokes only the token asking

    @extend_schema(tags=["auth"], request=None, responses={204: None, **_errors(401)})
    def post(self, request):
        if isinstance(request.auth, ApiToken):
            users.token_sign_out(token=request.auth, ip=client_ip(request), user_agent=user_agent(request))
        else:
            session_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(tags=["auth"], responses={200: s.MeOutput, **_errors(401)})
    def get(self, request):
        body = {
            "user": request.user,
            "memberships": selectors.membership_list_for_user(
                user=request.user, only_tenant_id=token_tenant_id(request)
            ),
            "email_verified": selectors.email_verified(user=request.user),
            "mfa_enabled": mfa.mfa_enabled(user=request.user),
        }
        return Response(s.MeOutput(body).data)


class EmailView(APIView):
    @extend_schema(tags=["auth"], responses={200: s.EmailListOutput, **_errors(401)})
    def get(self, request):
        return Response(s.EmailListOutput({"results": selectors.email_list(user=request.user)}).data)

    @extend_schema(
        tags=["auth"],
        request=s.EmailChangeInput,
        responses={202: s.EmailOutput, **_errors(400, 401, 403, 429)},
        description="Change the account's address: a verification link goes to the new address, which "
        "replaces the old one once verified. Until then the old address stays in use.",
    )
    def post(self, request):
        data = s.EmailChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        address = email.email_change_request(request=request, user=request.user, email=data.validated_data["email"])
        return Response(s.EmailOutput(address).data, status=status.HTTP_202_ACCEPTED)


class EmailVerificationView(APIView):
    @extend_schema(
        tags=["auth"],
        request=None,
        responses={202: None, **_errors(401, 403, 409, 429)},
        description="Mail the verification link again for the account's unverified addresses (one mail per "
        "address every 3 minutes: 429 `verification_throttled`).",
    )
    def post(self, request):
        email.verification_resend(request=request, user=request.user)
        return Response(status=status.HTTP_202_ACCEPTED)


# --- Two-factor -------------------------------------------------------------------


class MfaView(APIView):
    @extend_schema(tags=["auth"], responses={200: s.MfaStatusOutput, **_errors(401)})
    def get(self, request):
        body = {
            "enabled": mfa.mfa_enabled(user=request.user),
            "recovery_codes_left": mfa.recovery_codes_left(user=request.user),
        }
        return Response(s.MfaStatusOutput(body).data)


class MfaDisableView(APIView):
    @extend_schema(
        tags=["auth"],
        request=s.OtpInput,
        responses={204: None, **_errors(400, 401, 403, 409)},
        description="Turn two-factor authentication off, proven by a current code or a recovery code.",
    )
    def post(self, request):
        data = s.OtpInput(data=request.data)
        data.is_valid(raise_exception=True)
        mfa.mfa_disable(user=request.user, code=data.validated_data["code"], ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TotpView(APIView):
    @extend_schema(
        tags=["auth"],
        request=None,
        responses={201: s.TotpSetupOutput, **_errors(401, 403, 409)},
        description="Start setting up TOTP: a new secret, valid 15 minutes until confirmed with a code.",
    )
    def post(self, request):
        secret, url = mfa.totp_begin(user=request.user)
        return Response(s.TotpSetupOutput({"secret": secret, "otpauth_url": url}).data, status=status.HTTP_201_CREATED)


class TotpConfirmView(APIView):
    @extend_schema(
        tags=["auth"],
        request=s.OtpInput,
        responses={200: s.RecoveryCodesOutput, **_errors(400, 401, 403, 409)},
        description="Turn two-factor on with a code from the app; answers the recovery codes, once.",
    )
    def post(self, request):
        data = s.OtpInput(data=request.data)
        data.is_valid(raise_exception=True)
        codes = mfa.totp_confirm(user=request.user, code=data.validated_data["code"], ip=client_ip(request))
        return Response(s.RecoveryCodesOutput({"recovery_codes": codes}).data)


class RecoveryCodesView(APIView):
    @extend_schema(
        tags=["auth"],
        request=s.OtpInput,
        responses={200: s.RecoveryCodesOutput, **_errors(400, 401, 403, 409)},
        description="Replace the recovery codes (the old ones stop working), proven by a current code.",
    )
    def post(self, request):
        data = s.OtpInput(data=request.data)
        data.is_valid(raise_exception=True)
        codes = mfa.recovery_codes_regenerate(
            user=request.user, code=data.validated_data["code"], ip=client_ip(request)
        )
        return Response(s.RecoveryCodesOutput({"recovery_codes": codes}).data)


class TokenListView(APIView):
    @extend_schema(tags=["auth"], parameters=PAGE_PARAMETERS, responses={200: paginated(s.TokenOutput), **_errors(401)})
    def get(self, request):
        return paginate(self, request, selectors.token_list(user=request.user), s.TokenOutput)

    @extend_schema(
        tags=["auth"],
        request=s.TokenInput,
        responses={201: s.TokenCreatedOutput, **_errors(400, 401, 403, 404)},
        description="Creating a token takes a session or an unrestricted `write` token (403 `read_only_token`, "
        "403 `token_restricted`); `tenant` must be one of the caller's teams (404).",
    )
    def post(self, request):
        data = s.TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = users.token_create(user=request.user, **data.validated_data)
        token.token = key
        return Response(s.TokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    @extend_schema(tags=["auth"], responses={200: s.TokenOutput, **_errors(401, 404)})
    def get(self, request, token_id):
        return Response(s.TokenOutput(selectors.token_get(user=request.user, token_id=token_id)).data)

    @extend_schema(tags=["auth"], responses={204: None, **_errors(401, 403, 404)})
    def delete(self, request, token_id):
        users.token_revoke(token=selectors.token_get(user=request.user, token_id=token_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Tenants ----------------------------------------------------------------------


class TenantListView(APIView):
    @extend_schema(
        tags=["tenants"], parameters=PAGE_PARAMETERS, responses={200: paginated(s.TenantOutput), **_errors(401)}
    )
    def get(self, request):
        only = token_tenant_id(request)
        roles = {
            m.tenant_id: m.role for m in selectors.membership_list_for_user(user=request.user, only_tenant_id=only)
        }
        tenants_ = selectors.tenant_list_for_user(user=request.user, only_tenant_id=only)
        return paginate(self, request, tenants_, s.TenantOutput, roles=roles)

    @extend_schema(tags=["tenants"], request=s.TenantInput, responses={201: s.TenantOutput, **_errors(400, 401, 409)})
    def post(self, request):
        data = s.TenantInput(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = tenants.tenant_create(actor=request.user, ip=client_ip(request), **data.validated_data)
        tenant = selectors.tenant_with_used_bytes(tenant=tenant)
        body = s.TenantOutput(tenant, context={"roles": {tenant.pk: "owner"}}).data
        return Response(body, status=status.HTTP_201_CREATED)


class TenantDetailView(TenantScopedMixin, APIView):
    def _out(self, tenant) -> dict:
        tenant = selectors.tenant_with_used_bytes(tenant=tenant)
        return s.TenantOutput(tenant, context={"roles": {tenant.pk: self.membership.role}}).data

    @extend_schema(tags=["tenants"], responses={200: s.TenantOutput, **_errors(401, 404)})
    def get(self, request, tenant_slug):
        return Response(self._out(self.tenant))

    @extend_schema(
        tags=["tenants"],
        request=s.TenantUpdateInput,
        responses={200: s.TenantOutput, **_errors(400, 401, 403, 404, 409)},
    )
    def patch(self, request, tenant_slug):
        data = s.TenantUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        tenant = tenants.tenant_update(membership=self.membership, data=data.validated_data, ip=client_ip(request))
        return Response(self._out(tenant))


class MemberListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=["tenants"], parameters=PAGE_PARAMETERS, responses={200: paginated(s.MemberOutput), **_errors(401, 404)}
    )
    def get(self, request, tenant_slug):
        return paginate(self, request, selectors.member_list(tenant=self.tenant), s.MemberOutput, ordering="created_at")

    @extend_schema(
        tags=["tenants"], request=s.MemberAddInput, responses={201: s.MemberOutput, **_errors(400, 401, 403, 404, 409)}
    )
    def post(self, request, tenant_slug):
        data = s.MemberAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        member = tenants.member_add(
            actor=self.membership,
            username=data.validated_data["username"],
            role=data.validated_data["role"],
            ip=client_ip(request),
        )
        return Response(s.MemberOutput(member).data, status=status.HTTP_201_CREATED)


class MemberDetailView(TenantScopedMixin, APIView):
    @extend_schema(tags=["tenants"], responses={200: s.MemberOutput, **_errors(401, 404)})
    def get(self, request, tenant_slug, user_id):
        return Response(s.MemberOutput(selectors.member_get(tenant=self.tenant, user_id=user_id)).data)

    @extend_schema(
        tags=["tenants"],
        request=s.MemberUpdateInput,
        responses={200: s.MemberOutput, **_errors(400, 401, 403, 404, 409)},
    )
    def patch(self, request, tenant_slug, user_id):
        data = s.MemberUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        member = selectors.member_get(tenant=self.tenant, user_id=user_id)
        if "role" in data.validated_data:
            member = tenants.member_change_role(
                actor=self.membership, member=member, role=data.validated_data["role"], ip=client_ip(request)
            )
        return Response(s.MemberOutput(member).data)

    @extend_schema(tags=["tenants"], responses={204: None, **_errors(401, 403, 404, 409)})
    def delete(self, request, tenant_slug, user_id):
        member = selectors.member_get(tenant=self.tenant, user_id=user_id)
        tenants.member_remove(actor=self.membership, member=member, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
