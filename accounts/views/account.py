"""The signed-in user's own pages: their teams, registration, password and API tokens."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as session_login
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import selectors
from accounts.forms import PasswordChangeForm, RegisterForm, TenantCreateForm, TokenCreateForm
from accounts.models import Tenant
from accounts.services import email, tenants, users
from accounts.views.common import refusal
from mediaportal import ratelimit
from mediaportal.exceptions import ApplicationError, NotFound
from mediaportal.http import client_ip

# Tokens listed on the page: every API login makes one, so a busy account has many.
TOKENS_SHOWN = 100

REGISTER_FIELDS = {
    "invalid_username": "username",
    "username_taken": "username",
    "email_taken": "email",
    "weak_password": "password",
    "invalid_name": "tenant_name",
    "slug_taken": "tenant_name",
}
TENANT_FIELDS = {"invalid_name": "name", "invalid_slug": "slug", "slug_taken": "slug"}
PASSWORD_FIELDS = {"wrong_password": "old_password", "throttled": "old_password", "weak_password": "new_password"}
TOKEN_FIELDS = {
    "invalid_scope": "scope",
    "invalid_expiry": "expires_in_days",
    "expiry_too_far": "expires_in_days",
    "not_found": "tenant",
}


@login_required
def home(request):
    """The user's teams with their role and storage, and a form to create another team."""
    switch = _switched_team(request.GET.get("team", ""))
    if switch:
        return redirect(switch)
    form = TenantCreateForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound and form.is_valid():
        try:
            tenant = tenants.tenant_create(actor=request.user, ip=client_ip(request), **form.cleaned_data)
            messages.success(request, f"Team “{tenant.name}” created.")
            return redirect("portal-browse", tenant_slug=tenant.slug)
        except ApplicationError as exc:
            status = refusal(form, exc, TENANT_FIELDS)
    elif form.is_bound:
        status = 400
    memberships = selectors.membership_list_with_usage(user=request.user)
    return render(request, "accounts/home.html", {"memberships": memberships, "form": form}, status=status)


def _switched_team(target: str) -> str | None:
    # The team switcher without JavaScript submits its choice here as `team`: follow it only
    # to a team's browse page (the page itself answers 404 to a team that is not the user's).
    try:
        match = resolve(target) if target.startswith("/t/") else None
    except Resolver404:
        return None
    return target if match is not None and match.url_name == "portal-browse" else None


def register(request):
    """Create an account and its first team, sign in, and go to that team."""
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    form = RegisterForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound and form.is_valid():
        status, tenant = _register(request, form)
        if tenant is not None:
            # Where the visitor was going (an invitation's page, through the login page).
            return redirect(next_url or reverse("portal-browse", kwargs={"tenant_slug": tenant.slug}))
    elif form.is_bound:
        status = 400
    return render(request, "accounts/register.html", {"form": form, "next": next_url}, status=status)


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    return target if target.startswith("/") and allowed else ""


def _register(request, form: RegisterForm) -> tuple[int, Tenant | None]:
    # The same per-address limit as the API's registration, which anonymous calls count in.
    limit = ratelimit.anon_limit(request, settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get("anon"))
    if limit is not None and ratelimit.take([limit]).retry_after:
        form.add_error(None, "Too many requests from your address. Try again in a minute.")
        return 429, None
    try:
        user, tenant, _key = users.user_register(**form.cleaned_data, ip=client_ip(request), with_token=False)
    except ApplicationError as exc:
        return refusal(form, exc, REGISTER_FIELDS), None
    request.sign_in_method = "registration"  # for the sign-in's audit event (accounts.receivers)
    session_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    email.verification_send(request=request, user=user)
    messages.success(
        request,
        f"Welcome, {user.username}. This is your team “{tenant.name}”. "
        f"We sent a link to {user.email} to verify your address.",
    )
    return 302, tenant


@login_required
def password_change(request):
    form = PasswordChangeForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound and form.is_valid():
        try:
            users.user_password_change(
                user=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
                ip=client_ip(request),
            )
        except ApplicationError as exc:
            status = refusal(form, exc, PASSWORD_FIELDS)
        else:
            # The password's hash signs sessions: keep this one, the others have ended.
            update_session_auth_hash(request, request.user)
            messages.success(request, "Password changed. Your other sessions have been signed out.")
            return redirect("account-password")
    elif form.is_bound:
        status = 400
    return render(request, "accounts/password.html", {"form": form}, status=status)


@login_required
def tokens(request):
    """The user's API tokens; a new token's key is shown once, in this response only."""
    teams = [m.tenant for m in selectors.membership_list_for_user(user=request.user)]
    form = TokenCreateForm(request.POST if request.method == "POST" else None, teams=teams)
    status, created = 200, None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            token, key = users.token_create(
                user=request.user,
                name=data["name"],
                scope=data["scope"],
                tenant_slug=data["tenant"] or None,
                expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
            )
        except ApplicationError as exc:
            status = refusal(form, exc, TOKEN_FIELDS)
        else:
            created = {"token": token, "key": key}
            form = TokenCreateForm(teams=teams)
    elif form.is_bound:
        status = 400
    listed = list(selectors.token_list(user=request.user)[: TOKENS_SHOWN + 1])
    context = {
        "form": form,
        "created": created,
        "tokens": listed[:TOKENS_SHOWN],
        "more": len(listed) > TOKENS_SHOWN,
        "now": timezone.now(),
    }
    response = render(request, "accounts/tokens.html", context, status=status)
    if created:
        patch_cache_control(response, no_store=True)  # the key must not outlive this page
    return response


@login_required
@require_POST
def token_revoke(request, token_id):
    try:
        token = selectors.token_get(user=request.user, token_id=token_id)
    except NotFound:
        raise Http404 from None
    users.token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) revoked.")
    return redirect("account-tokens")
