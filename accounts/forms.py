"""Forms of the portal's account pages, and its login form (counted by the same throttle as
the API login; the admin signs in through it too)."""

from __future__ import annotations

from allauth.account.forms import LoginForm
from django import forms
from django.conf import settings
from django.core.validators import RegexValidator

from accounts import throttling
from accounts.models import PublicFiles, Role, Tenant, TokenScope
from accounts.services import sessions
from accounts.services.tenants import SEARCH_CONFIGS, SETTING_BOUNDS
from accounts.services.users import USERNAME_RE
from mediaportal.http import client_ip


class PortalLoginForm(LoginForm):
    """django-allauth's login form (username or e-mail), counted by our login throttle.

    After the password, allauth's login stages take over: the two-factor code for users who
    set it up.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Username or e-mail"
        self.fields["password"].help_text = ""  # the page links to the reset itself

    def clean(self):
        login = (self.cleaned_data.get("login") or "").strip()
        if not login or not self.cleaned_data.get("password"):
            return super().clean()
        ip = client_ip(self.request) if self.request else None
        attempt = throttling.login_attempt(username=login, ip=ip)
        if attempt.retry_after:
            self._failed(login, ip, "throttled")
            raise forms.ValidationError(
                "Too many failed logins. Try again in %(seconds)s seconds.",
                code="throttled",
                params={"seconds": attempt.retry_after},
            )
        try:
            cleaned = super().clean()  # a wrong password raises here, and the attempt stays counted
        except forms.ValidationError:
            self._failed(login, ip, "invalid_credentials")
            raise
        throttling.login_succeeded(attempt)
        return cleaned

    def _failed(self, login: str, ip: str | None, reason: str) -> None:
        agent = self.request.META.get("HTTP_USER_AGENT", "") if self.request else ""
        sessions.sign_in_failed_record(username=login, ip=ip, user_agent=agent, method="password", reason=reason)


# What django-allauth checks a username against when it makes one (single sign-on sign-ups).
USERNAME_VALIDATORS = [RegexValidator(USERNAME_RE, "Usernames are 3-150 letters, digits or . @ + - _.")]


# --- Portal forms: they only shape input; the accounts services decide and refuse ----------


class RegisterForm(forms.Form):
    username = forms.CharField(
        label="Username", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password",
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not a common password, not all digits.",
    )
    tenant_name = forms.CharField(
        label="Team name",
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
        help_text="Your first team; you can create more later.",
    )


class TenantCreateForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=120)
    slug = forms.CharField(
        label="Address",
        max_length=50,
        required=False,
        strip=False,
        help_text="Lower-case letters, digits and hyphens, as in /t/<address>/. Made from the name when empty.",
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label="Current password",
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    new_password = forms.CharField(
        label="New password",
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not a common password, not all digits, not like your username.",
    )
    new_password_repeat = forms.CharField(
        label="Repeat new password",
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        new, repeat = cleaned.get("new_password"), cleaned.get("new_password_repeat")
        if new and repeat and new != repeat:
            self.add_error("new_password_repeat", "The two new passwords differ.")
        return cleaned


class TokenCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="What the token is for, e.g. “backup script”.")
    scope = forms.ChoiceField(
        label="Scope",
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
        help_text="A read-only token can list, search and download, and change nothing.",
    )
    tenant = forms.ChoiceField(
        label="Team",
        required=False,
        help_text="A token for one team sees no other team, and changes nothing outside it.",
    )
    expires_in_days = forms.IntegerField(label="Expires in (days)", min_value=1)

    def __init__(self, *args, teams: list[Tenant] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].choices = [("", "All my teams")] + [(t.slug, t.name) for t in teams]
        # The service's bound, read per request so a changed setting shows at once.
        days = settings.API_TOKEN_TTL.days
        field = self.fields["expires_in_days"]
        field.initial = days
        field.widget.attrs.update({"min": 1, "max": days})
        field.help_text = f"At most {days} days; every token expires."


class MemberAddForm(forms.Form):
    username = forms.CharField(
        label="Username", max_length=150, help_text="Their exact username; they need an account already."
    )
    # Optional, as in the API: a member added without a role is a viewer.
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.VIEWER, required=False)


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)
    role = forms.ChoiceField(label="Invite as", choices=Role.choices, initial=Role.VIEWER, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        days = settings.INVITATION_TTL_DAYS  # read per request, as the service does
        self.fields["email"].help_text = (
            f"We mail them a link valid for {days} day{'s' if days != 1 else ''}; they accept it signed in "
            "with this address, verified."
        )


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


MIB = 1024 * 1024


class TenantSettingsForm(forms.Form):
    """The settings `tenant_update` takes; bounds are shown to the browser, the service keeps them."""

    name = forms.CharField(label="Team name", max_length=120)
    max_upload_mib = forms.IntegerField(label="Max upload size (MiB)")
    trash_retention_days = forms.IntegerField(label="Keep deleted files in the trash for (days)")
    share_max_days = forms.IntegerField(label="Share links last at most (days)")
    archive_after_days = forms.IntegerField(label="Archive files untouched for (days)", required=False)
    noncurrent_archive_days = forms.IntegerField(label="Archive old versions after (days)")
    search_config = forms.ChoiceField(
        label="Search language", help_text="Changing it rebuilds the search index in the background."
    )
    public_files = forms.ChoiceField(label="Who may make files public", choices=PublicFiles.choices)
    ocr_enabled = forms.BooleanField(
        label="Read text in pictures and scans",
        required=False,
        help_text="Photos, screenshots and scanned PDF pages are read (OCR) so search finds their words. "
        "Applies to files processed from now on; reprocess a file to read it again.",
    )
    require_mfa = forms.BooleanField(
        label="Require two-factor authentication",
        required=False,
        help_text="Members without it cannot open this team until they set it up. Turn it on for your own "
        "account first.",
    )
    monthly_budget = forms.DecimalField(
        label="Monthly budget",
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        help_text="Storage cost per month you mean to stay under; owners and admins are warned at 80 % and "
        "100 % of it. Empty: no budget.",
    )

    # Form field → the tenant setting it edits (the upload limit is shown in MiB).
    SETTING = {
        "name": "name",
        "max_upload_mib": "max_upload_bytes",
        "trash_retention_days": "trash_retention_days",
        "share_max_days": "share_max_days",
        "archive_after_days": "archive_after_days",
        "noncurrent_archive_days": "noncurrent_archive_days",
        "search_config": "search_config",
        "public_files": "public_files",
        "ocr_enabled": "ocr_enabled",
        "require_mfa": "require_mfa",
        "monthly_budget": "monthly_budget",
    }

    def __init__(self, *args, tenant: Tenant, **kwargs):
        initial = {field: getattr(tenant, setting) for field, setting in self.SETTING.items()}
        initial["max_upload_mib"] = max(1, round(tenant.max_upload_bytes / MIB))
        super().__init__(*args, initial=initial, **kwargs)
        self.fields["search_config"].choices = [(c, c.capitalize()) for c in SEARCH_CONFIGS]
        ceiling = settings.PLATFORM_MAX_UPLOAD_BYTES // MIB
        self.fields["max_upload_mib"].widget.attrs.update({"min": 1, "max": ceiling})
        self.fields["max_upload_mib"].help_text = f"One file, at most {ceiling:,} MiB."
        for field, (low, high) in SETTING_BOUNDS.items():
            self.fields[field].widget.attrs.update({"min": low, "max": high})
            self.fields[field].help_text = f"{low} to {high:,}."
        self.fields["archive_after_days"].help_text += " Empty: never."
        budget = self.fields["monthly_budget"]
        budget.label = f"Monthly budget ({settings.STORAGE_CURRENCY})"
        budget.widget.attrs.update({"step": "0.01", "inputmode": "decimal"})

    def changes(self) -> dict:
        """The settings the user changed, as `tenant_update` takes them.

        Only changed fields: the upload limit shown rounded to MiB must not be rewritten by a
        save that did not touch it.
        """
        data = {self.SETTING[field]: self.cleaned_data[field] for field in self.changed_data}
        if "max_upload_bytes" in data:
            data["max_upload_bytes"] *= MIB
        return data

    def field_for(self, setting: str) -> str | None:
        return next((field for field, name in self.SETTING.items() if name == setting), None)
