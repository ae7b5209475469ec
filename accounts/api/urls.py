from django.urls import path

from accounts.api import invitations, sessions, views

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="auth-register"),
    path("auth/login/", views.LoginView.as_view(), name="auth-login"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/me/", views.MeView.as_view(), name="auth-me"),
    path("auth/email/", views.EmailView.as_view(), name="auth-email"),
    path("auth/email/verification/", views.EmailVerificationView.as_view(), name="auth-email-verification"),
    path("auth/mfa/", views.MfaView.as_view(), name="auth-mfa"),
    path("auth/mfa/disable/", views.MfaDisableView.as_view(), name="auth-mfa-disable"),
    path("auth/mfa/totp/", views.TotpView.as_view(), name="auth-mfa-totp"),
    path("auth/mfa/totp/confirm/", views.TotpConfirmView.as_view(), name="auth-mfa-totp-confirm"),
    path("auth/mfa/recovery-codes/", views.RecoveryCodesView.as_view(), name="auth-mfa-recovery-codes"),
    path("auth/tokens/", views.TokenListView.as_view(), name="auth-tokens"),
    path("auth/tokens/<uuid:token_id>/", views.TokenDetailView.as_view(), name="auth-token-detail"),
    path("auth/invitations/<str:token>/", invitations.InvitationTokenView.as_view(), name="auth-invitation"),
    path(
        "auth/invitations/<str:token>/accept/",
        invitations.InvitationAcceptView.as_view(),
        name="auth-invitation-accept",
    ),
    path("auth/sessions/", sessions.SessionListView.as_view(), name="auth-sessions"),
    path("auth/sessions/sign-out-others/", sessions.SessionSignOutOthersView.as_view(), name="auth-sessions-sign-out"),
    path("auth/sessions/<int:session_id>/", sessions.SessionDetailView.as_view(), name="auth-session-detail"),
    path("auth/sign-ins/", sessions.SignInListView.as_view(), name="auth-sign-ins"),
    path("tenants/", views.TenantListView.as_view(), name="tenant-list"),
    path("tenants/<slug:tenant_slug>/", views.TenantDetailView.as_view(), name="tenant-detail"),
    path("tenants/<slug:tenant_slug>/members/", views.MemberListView.as_view(), name="member-list"),
    path("tenants/<slug:tenant_slug>/members/<uuid:user_id>/", views.MemberDetailView.as_view(), name="member-detail"),
    path(
        "tenants/<slug:tenant_slug>/invitations/",
        invitations.InvitationListView.as_view(),
        name="invitation-list",
    ),
    path(
        "tenants/<slug:tenant_slug>/invitations/<uuid:invitation_id>/",
        invitations.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
    path(
        "tenants/<slug:tenant_slug>/invitations/<uuid:invitation_id>/resend/",
        invitations.InvitationResendView.as_view(),
        name="invitation-resend",
    ),
]
