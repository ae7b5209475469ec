"""Login forms for the portal and the admin, counted by the same throttle as the API login."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from accounts import throttling
from mediaportal.http import client_ip


class ThrottledLoginMixin:
    """Takes the attempt's place in the login throttle before the password is checked.

    Django's own login views would otherwise be an unthrottled way around the API's limit
    for guessing a password.
    """

    def clean(self):
        username = (self.cleaned_data.get("username") or "").strip()
        if not username or not self.cleaned_data.get("password"):
            return super().clean()
        attempt = throttling.login_attempt(username=username, ip=client_ip(self.request) if self.request else None)
        if attempt.retry_after:
            raise forms.ValidationError(
                "Too many failed logins. Try again in %(seconds)s seconds.",
                code="throttled",
                params={"seconds": attempt.retry_after},
            )
        cleaned = super().clean()  # a wrong password raises here, and the attempt stays counted
        throttling.login_succeeded(attempt)
        return cleaned


class PortalLoginForm(ThrottledLoginMixin, AuthenticationForm):
    error_messages = {**AuthenticationForm.error_messages, "invalid_login": "Wrong username or password."}


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass
