from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator

from tests.oidc_provider.models import Profile


class ClaimsValidator(OAuth2Validator):
    """Claims as Keycloak or Authentik send them: address, whether verified, and groups."""

    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "groups"}

    def get_additional_claims(self, request):
        user = request.user
        profile = Profile.objects.filter(user=user).first()
        return {
            "preferred_username": user.username,
            "name": user.get_full_name() or user.username,
            "email": user.email,
            "email_verified": bool(profile and profile.email_verified),
            "groups": sorted(user.groups.values_list("name", flat=True)),
        }
