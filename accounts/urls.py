from allauth.account import views as allauth_views
from django.urls import include, path

from accounts.views import account, invitations, sessions, sso, team

urlpatterns = [
    path("", account.home, name="home"),
    # Signing in, out and up are django-allauth's pages (its login goes on to the two-factor
    # step and shows the single sign-on buttons), under the short paths people type.
    path("login/", allauth_views.login, name="login"),
    path("logout/", allauth_views.logout, name="logout"),
    path("register/", account.register, name="register"),
    path("account/password/", account.password_change, name="account-password"),
    # Registration makes the first team, a password change is throttled like a login, and
    # the session list shows sign-ins too: allauth's own pages for these lead to ours
    # (matched first, so they win).
    path("accounts/signup/", account.register, name="account_signup"),
    path("accounts/password/change/", account.password_change, name="account_change_password"),
    # An unreachable OpenID Connect provider gets our error page instead of a 500.
    path("accounts/oidc/<str:provider_id>/login/", sso.oidc_login, name="openid_connect_login"),
    path("accounts/sessions/", sessions.session_list, name="usersessions_list"),
    path("accounts/sessions/<int:session_id>/end/", sessions.session_end, name="account-session-end"),
    path("accounts/", include("allauth.urls")),
    path("account/tokens/", account.tokens, name="account-tokens"),
    path("account/tokens/<uuid:token_id>/revoke/", account.token_revoke, name="account-token-revoke"),
    path("t/<slug:tenant_slug>/members/", team.members, name="portal-members"),
    path("t/<slug:tenant_slug>/members/<uuid:user_id>/role/", team.member_role, name="portal-member-role"),
    path("t/<slug:tenant_slug>/members/<uuid:user_id>/remove/", team.member_remove, name="portal-member-remove"),
    path("t/<slug:tenant_slug>/members/invite/", invitations.invite, name="portal-invite"),
    path(
        "t/<slug:tenant_slug>/invitations/<uuid:invitation_id>/resend/",
        invitations.invitation_resend,
        name="portal-invitation-resend",
    ),
    path(
        "t/<slug:tenant_slug>/invitations/<uuid:invitation_id>/revoke/",
        invitations.invitation_revoke,
        name="portal-invitation-revoke",
    ),
    # The link invitation mails carry (accounts.services.invitations).
    path("invitations/<str:token>/", invitations.invitation_page, name="portal-invitation"),
    path("t/<slug:tenant_slug>/settings/", team.tenant_settings, name="portal-settings"),
]
