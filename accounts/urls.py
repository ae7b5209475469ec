from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.forms import PortalLoginForm
from accounts.views import account, team

urlpatterns = [
    path("", account.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="login.html", authentication_form=PortalLoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("register/", account.register, name="register"),
    path("account/password/", account.password_change, name="account-password"),
    path("account/tokens/", account.tokens, name="account-tokens"),
    path("account/tokens/<uuid:token_id>/revoke/", account.token_revoke, name="account-token-revoke"),
    path("t/<slug:tenant_slug>/members/", team.members, name="portal-members"),
    path("t/<slug:tenant_slug>/members/<uuid:user_id>/role/", team.member_role, name="portal-member-role"),
    path("t/<slug:tenant_slug>/members/<uuid:user_id>/remove/", team.member_remove, name="portal-member-remove"),
    path("t/<slug:tenant_slug>/settings/", team.tenant_settings, name="portal-settings"),
]
