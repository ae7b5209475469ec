"""Input and output shapes for the accounts API. Serializers only shape data."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.core.validators import MaxValueValidator, MinLengthValidator, RegexValidator
from rest_framework import serializers

from accounts import useragent
from accounts.models import ActivityEvent, ApiToken, Invitation, Membership, PublicFiles, Role, Tenant, TokenScope, User
from accounts.services.tenants import BUDGET_MAX, SEARCH_CONFIGS, SLUG_RE, TENANT_SETTINGS
from accounts.services.users import USERNAME_RE
from mediaportal.serializers import Input


class UserOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email"]


class TenantBrief(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["slug", "name"]


CENT = Decimal("0.01")

# The length AUTH_PASSWORD_VALIDATORS asks, which the schema can show; the validators' other
# rules (common, all digits, like the username) it cannot, and they answer 400 `weak_password` too.
PASSWORD_MIN_LENGTH = 8


class _PasswordLength(MinLengthValidator):
    code = "weak_password"
    message = "This password is too short. It must contain at least %(limit_value)d characters."


class RegisterInput(Input):
    # Not trimmed: the pattern the schema shows is the whole rule.
    username = serializers.CharField(
        max_length=150,
        trim_whitespace=False,
        validators=[
            RegexValidator(USERNAME_RE, "Usernames are 3-150 letters, digits or . @ + - _.", "invalid_username")
        ],
    )
    email = serializers.EmailField()
    password = serializers.CharField(
        write_only=True, max_length=256, trim_whitespace=False, validators=[_PasswordLength(PASSWORD_MIN_LENGTH)]
    )
    tenant_name = serializers.CharField(max_length=120, required=False, allow_blank=True)


class RegisterOutput(serializers.Serializer):
    user = UserOutput()
    tenant = TenantBrief()
    token = serializers.CharField(help_text="API key; shown only in this response.")


class LoginInput(Input):
    username = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    otp = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="The current two-factor code (or a recovery code) for accounts with two-factor on; "
        "without it they answer 401 `mfa_required`.",
    )


class LoginOutput(serializers.Serializer):
    token = serializers.CharField(help_text="API key; shown only in this response.")
    expires_at = serializers.DateTimeField()
    user = UserOutput()


class MembershipOfUser(serializers.ModelSerializer):
    tenant = TenantBrief()

    class Meta:
        model = Membership
        fields = ["tenant", "role"]


class MeOutput(serializers.Serializer):
    user = UserOutput()
    memberships = MembershipOfUser(many=True)
    email_verified = serializers.BooleanField(help_text="Whether the account's address is verified.")
    mfa_enabled = serializers.BooleanField(help_text="Whether two-factor authentication is on.")


class EmailChangeInput(Input):
    email = serializers.EmailField(max_length=254)


class EmailOutput(serializers.Serializer):
    email = serializers.EmailField()
    verified = serializers.BooleanField()
    primary = serializers.BooleanField()


class EmailListOutput(serializers.Serializer):
    results = EmailOutput(many=True, help_text="The account's addresses, the primary one first.")


class MfaStatusOutput(serializers.Serializer):
    enabled = serializers.BooleanField()
    recovery_codes_left = serializers.IntegerField(min_value=0)


class TotpSetupOutput(serializers.Serializer):
    secret = serializers.CharField(help_text="Base32 secret for the authenticator app.")
    otpauth_url = serializers.CharField(help_text="The same secret as an otpauth:// URL, for a QR code.")


class OtpInput(Input):
    code = serializers.CharField(max_length=64, help_text="A current six-digit code (or a recovery code).")


class RecoveryCodesOutput(serializers.Serializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(), help_text="Each works once in place of a code; shown only in this response."
    )


class TokenInput(Input):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(
        choices=TokenScope.choices,
        default=TokenScope.WRITE,
        help_text="`read`: GET, HEAD and OPTIONS only (anything else answers 403 `read_only_token`); "
        "`write`: everything the user may do.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    tenant = serializers.SlugField(
        source="tenant_slug",
        max_length=50,
        required=False,
        allow_null=True,
        help_text="Restrict the token to this team of yours (its slug): every other team answers 404 to it, "
        "and it changes nothing outside this team. Null or absent: all your teams.",
    )


class TokenOutput(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    tenant = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="The team it is restricted to, or null."
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "tenant",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "state",
        ]

    def get_state(self, token: ApiToken) -> str:
        if token.revoked_at is not None:
            return "revoked"
        return "active" if token.is_active else "expired"


class TokenCreatedOutput(TokenOutput):
    token = serializers.CharField(help_text="API key; shown only in this response.")

    class Meta(TokenOutput.Meta):
        fields = TokenOutput.Meta.fields + ["token"]


class TenantInput(Input):
    name = serializers.CharField(max_length=120)
    slug = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        validators=[RegexValidator(SLUG_RE, "Slugs are lower-case letters, digits and hyphens.", "invalid_slug")],
        help_text="Made from the name when blank.",
    )


class TenantOutput(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    # A JSON number, as the cost endpoint's amounts are (DRF's default would be a string).
    monthly_budget = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        coerce_to_string=False,
        allow_null=True,
        read_only=True,
        help_text="Storage budget per month in the installation's currency; null: none.",
    )
    # Annotated by accounts.selectors.with_used_bytes.
    used_bytes = serializers.IntegerField(
        read_only=True, min_value=0, max_value=2**63 - 1, help_text="Bytes stored, shared content counted once."
    )

    class Meta:
        model = Tenant
        # The settings owners and admins may change, plus what they may only read.
        fields = ["id", "slug", "role", "quota_bytes", "used_bytes", *TENANT_SETTINGS, "created_at"]

    def get_role(self, tenant: Tenant) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(tenant.pk)


class _UploadLimit(MaxValueValidator):
    # The platform's ceiling, in the schema too (`maximum`); the service answers the same.
    code = "invalid_limit"
    message = "max_upload_bytes must be at most %(limit_value)s."


class _BudgetField(serializers.DecimalField):
    """A JSON number of the storage currency, rounded to cents (a JSON number cannot hold
    every amount in cents exactly); whatever is wrong with one (a string, negative, too large)
    answers 400 `invalid_budget`."""

    def run_validation(self, data=serializers.empty):
        try:
            # The schema says number; forms (a QueryDict) carry only strings and keep DRF's parsing.
            if isinstance(data, str) and not hasattr(self.parent.initial_data, "getlist"):
                self.fail("invalid")
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            # str(): an ErrorDetail would keep its own code ("min_value", "invalid").
            raise serializers.ValidationError(str(exc.detail[0]), code="invalid_budget") from None

    def validate_precision(self, value):
        try:
            value = value.quantize(CENT, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            self.fail("max_digits", max_digits=self.max_digits)
        return super().validate_precision(value)


class TenantUpdateInput(Input):
    name = serializers.CharField(max_length=120, required=False)
    max_upload_bytes = serializers.IntegerField(
        required=False, min_value=1, validators=[_UploadLimit(settings.PLATFORM_MAX_UPLOAD_BYTES)]
    )
    archive_after_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=36500,
        help_text="Files untouched this many days move to the archive tier; null: never.",
    )
    noncurrent_archive_days = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=36500,
        help_text="Older versions move to the archive this many days after a newer one was added.",
    )
    trash_retention_days = serializers.IntegerField(required=False, min_value=1, max_value=3650)
    share_max_days = serializers.IntegerField(required=False, min_value=1, max_value=3650)
    search_config = serializers.ChoiceField(required=False, choices=SEARCH_CONFIGS)
    public_files = serializers.ChoiceField(
        required=False,
        choices=PublicFiles.choices,
        help_text="Who may set a file's visibility to `public`: nobody, owners and admins, or also the file's owner.",
    )
    require_mfa = serializers.BooleanField(
        required=False,
        help_text="Members without two-factor authentication get 403 `mfa_required` in this tenant. "
        "Turning it on needs two-factor on the caller's own account (409 `mfa_not_enabled`).",
    )
    ocr_enabled = serializers.BooleanField(
        required=False,
        help_text="Read text in pictures and scanned PDFs (OCR) so search finds it; for files processed from "
        "now on (reprocess a file to read one processed before).",
    )
    monthly_budget = _BudgetField(
        required=False,
        allow_null=True,
        max_digits=12,
        decimal_places=2,
        min_value=0,
        max_value=BUDGET_MAX,
        coerce_to_string=False,
        help_text="Storage budget per month in the installation's currency, rounded to cents; null: none. "
        "Budget alerts fire at 80 % and 100 % of it.",
    )


class MemberUser(serializers.ModelSerializer):
    """A member as other members see them: never their e-mail address."""

    class Meta:
        model = User
        fields = ["id", "username"]


class MemberOutput(serializers.ModelSerializer):
    user = MemberUser()

    class Meta:
        model = Membership
        fields = ["user", "role", "created_at"]


class MemberAddInput(Input):
    username = serializers.CharField(max_length=150, help_text="The new member's exact username.")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class MemberUpdateInput(Input):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationInput(Input):
    email = serializers.EmailField(max_length=254, help_text="The address the link is mailed to.")
    role = serializers.ChoiceField(
        choices=Role.choices,
        default=Role.VIEWER,
        help_text="The role given on acceptance; only owners invite owners.",
    )


class InvitationOutput(serializers.ModelSerializer):
    """An invitation as its tenant's owners and admins see it; never its token (only mailed)."""

    state = serializers.ChoiceField(
        choices=["open", "accepted", "expired", "revoked"],
        read_only=True,
        help_text="Computed when read: `expired` the moment `expires_at` passes.",
    )
    invited_by = MemberUser(read_only=True, allow_null=True, help_text="Who sent it last.")
    accepted_by = MemberUser(read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "state",
            "invited_by",
            "created_at",
            "sent_at",
            "expires_at",
            "accepted_at",
            "accepted_by",
            "revoked_at",
        ]


class InvitationRefusal(serializers.Serializer):
    code = serializers.ChoiceField(choices=["already_member", "email_unverified", "invitation_wrong_account"])
    detail = serializers.CharField()


class InvitationPreviewOutput(serializers.Serializer):
    tenant = TenantBrief()
    role = serializers.ChoiceField(choices=Role.choices)
    email = serializers.CharField(help_text="The invited address, partly masked.")
    invited_by = serializers.CharField(allow_null=True, help_text="The username of who sent it.")
    expires_at = serializers.DateTimeField()
    can_accept = serializers.BooleanField(help_text="Whether the caller may accept it now.")
    refusal = InvitationRefusal(allow_null=True, help_text="Why not, when `can_accept` is false.")


class SessionOutput(serializers.ModelSerializer):
    user_agent = serializers.CharField(help_text="The browser's User-Agent header.")
    browser = serializers.SerializerMethodField(help_text='The User-Agent in words: "Firefox 128 on Linux".')
    current = serializers.SerializerMethodField(help_text="The session this request was made with.")

    class Meta:
        model = UserSession
        fields = ["id", "ip", "user_agent", "browser", "created_at", "last_seen_at", "current"]

    def get_browser(self, session: UserSession) -> str:
        return useragent.describe(session.user_agent)

    def get_current(self, session: UserSession) -> bool:
        current = self.context.get("current_key")
        return current is not None and session.session_key == current


class SessionsEndedOutput(serializers.Serializer):
    ended = serializers.IntegerField(help_text="How many sessions were signed out.")


class SignInOutput(serializers.ModelSerializer):
    succeeded = serializers.SerializerMethodField()
    user_agent = serializers.SerializerMethodField()
    browser = serializers.SerializerMethodField(help_text='The User-Agent in words: "Firefox 128 on Linux".')
    method = serializers.SerializerMethodField(
        help_text="`password` (the login page), `token` (the API login), `sso:<provider>`, `registration`, …"
    )
    mfa = serializers.SerializerMethodField(help_text="The second factor used (`totp`, `recovery_codes`), or null.")
    reason = serializers.SerializerMethodField(
        help_text="Why a sign-in was refused (`invalid_credentials`, `throttled`); null when it succeeded."
    )

    class Meta:
        model = ActivityEvent
        fields = ["id", "at", "succeeded", "ip", "user_agent", "browser", "method", "mfa", "reason"]

    def get_succeeded(self, event: ActivityEvent) -> bool:
        return event.verb == "user.login"

    def get_user_agent(self, event: ActivityEvent) -> str:
        return event.data.get("user_agent", "")

    def get_browser(self, event: ActivityEvent) -> str:
        return useragent.describe(event.data.get("user_agent", ""))

    def get_method(self, event: ActivityEvent) -> str:
        return event.data.get("method", "")

    def get_mfa(self, event: ActivityEvent) -> str | None:
        return event.data.get("mfa")

    def get_reason(self, event: ActivityEvent) -> str | None:
        return event.data.get("reason")
