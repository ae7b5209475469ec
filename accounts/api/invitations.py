"""Invitations API: owners and admins manage a tenant's invitations; the invited accept theirs."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.api import serializers as s
from accounts.api.mixins import TenantScopedMixin
from accounts.services import invitations
from mediaportal.http import client_ip
from mediaportal.openapi import PAGE_PARAMETERS, ErrorOutput, paginated
from mediaportal.openapi import errors as _errors
from mediaportal.pagination import paginate

MANAGERS = "Owners and admins only; other members get 403."
GONE = {
    410: OpenApiResponse(
        ErrorOutput, description="`invitation_used`, `invitation_revoked` or `invitation_expired`: the link is dead"
    )
}
CLOSED = "409 `invitation_closed`: the invitation was accepted or revoked."


class InvitationListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=["tenants"],
        description=MANAGERS,
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(s.InvitationOutput), **_errors(401, 403, 404)},
    )
    def get(self, request, tenant_slug):
        queryset = selectors.invitation_list(actor=self.membership)
        return paginate(self, request, queryset, s.InvitationOutput, ordering="-created_at")

    @extend_schema(
        tags=["tenants"],
        description=f"{MANAGERS} Mails a link valid INVITATION_TTL_DAYS (7) days. An address with an invitation "
        "still pending gets that one again (200: new link, new expiry, the given role). 409 `already_member` "
        "when a member has the address.",
        request=s.InvitationInput,
        responses={201: s.InvitationOutput, 200: s.InvitationOutput, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request, tenant_slug):
        data = s.InvitationInput(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, created = invitations.invitation_create(
            actor=self.membership, **data.validated_data, ip=client_ip(request)
        )
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.InvitationOutput(invitation).data, status=answer)


class InvitationDetailView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=["tenants"], description=MANAGERS, responses={200: s.InvitationOutput, **_errors(401, 403, 404)}
    )
    def get(self, request, tenant_slug, invitation_id):
        invitation = selectors.invitation_get(actor=self.membership, invitation_id=invitation_id)
        return Response(s.InvitationOutput(invitation).data)

    @extend_schema(
        tags=["tenants"],
        description=f"Revokes: the link stops working and the invitation stays listed as `revoked`. {CLOSED}",
        responses={204: None, **_errors(401, 403, 404, 409)},
    )
    def delete(self, request, tenant_slug, invitation_id):
        invitation = selectors.invitation_get(actor=self.membership, invitation_id=invitation_id)
        invitations.invitation_revoke(actor=self.membership, invitation=invitation, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationResendView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=["tenants"],
        description=f"Mails a new link with a new expiry; the old link stops working. {CLOSED}",
        request=None,
        responses={200: s.InvitationOutput, **_errors(401, 403, 404, 409)},
    )
    def post(self, request, tenant_slug, invitation_id):
        invitation = selectors.invitation_get(actor=self.membership, invitation_id=invitation_id)
        invitation = invitations.invitation_resend(actor=self.membership, invitation=invitation, ip=client_ip(request))
        return Response(s.InvitationOutput(invitation).data)


class InvitationTokenView(APIView):
    @extend_schema(
        tags=["auth"],
        description="The invitation behind a mailed link, for the signed-in caller: whether they may accept it, "
        "and why not (`refusal`) when they may not.",
        responses={200: s.InvitationPreviewOutput, **_errors(401, 404), **GONE},
    )
    def get(self, request, token):
        invitation, refusal = invitations.invitation_for_user(user=request.user, token=token)
        if isinstance(refusal, invitations.InvitationGone):
            raise refusal
        body = {
            "tenant": invitation.tenant,
            "role": invitation.role,
            "email": invitations.email_mask(invitation.email),
            "invited_by": invitation.invited_by.username if invitation.invited_by else None,
            "expires_at": invitation.expires_at,
            "can_accept": refusal is None,
            "refusal": {"code": refusal.code, "detail": refusal.detail} if refusal else None,
        }
        return Response(s.InvitationPreviewOutput(body).data)


class InvitationAcceptView(APIView):
    @extend_schema(
        tags=["auth"],
        description="Joins the tenant with the invitation's role, once. The caller's account must hold the "
        "invited address verified: 403 `email_unverified` when it is theirs but unverified, 403 "
        "`invitation_wrong_account` when it is not theirs; 409 `already_member` (the invitation stays pending).",
        request=None,
        responses={200: s.MembershipOfUser, **_errors(401, 403, 404, 409), **GONE},
    )
    def post(self, request, token):
        membership = invitations.invitation_accept(user=request.user, token=token, ip=client_ip(request))
        return Response(s.MembershipOfUser(membership).data)
