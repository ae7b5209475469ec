"""Settings for signing in: passwords, API tokens, sessions, mail, single sign-on and two-factor.

Star-imported by mediaportal.settings (kept apart so each module stays readable). Sign-in in
the portal is django-allauth's: its views, its e-mail verification and password reset, its
OpenID Connect and GitHub providers, its TOTP and recovery codes and its session list; the
API's endpoints use the same models (accounts.services).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import dj_email_url

from mediaportal.env import VAR_DIR, env_int, env_list, env_str

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

API_TOKEN_TTL = timedelta(days=env_int("API_TOKEN_TTL_DAYS", 30))
# How long an invitation's link stays valid (resending it starts the time again).
INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7)
# Failed logins allowed within the window (seconds): per username from one address, per
# username from all addresses, and per address across usernames. The per-username limit
# stops guessing from many addresses; it is higher because anyone can spend it to lock
# the account's password login out for a window.
LOGIN_THROTTLE_WINDOW = env_int("LOGIN_THROTTLE_WINDOW", 300)
LOGIN_THROTTLE_PER_USER = env_int("LOGIN_THROTTLE_PER_USER", 5)
LOGIN_THROTTLE_PER_USERNAME = env_int("LOGIN_THROTTLE_PER_USERNAME", 20)
LOGIN_THROTTLE_PER_IP = env_int("LOGIN_THROTTLE_PER_IP", 30)
# Share links: unknown tokens per address, and wrong passwords per link and address, per window.
SHARE_TOKEN_GUESSES_PER_IP = env_int("SHARE_TOKEN_GUESSES_PER_IP", 30)
SHARE_PASSWORD_ATTEMPTS = env_int("SHARE_PASSWORD_ATTEMPTS", 5)
SHARE_PASSWORD_ATTEMPTS_PER_LINK = env_int("SHARE_PASSWORD_ATTEMPTS_PER_LINK", 4 * SHARE_PASSWORD_ATTEMPTS)
# Number of proxies in front of the web server whose X-Forwarded-For we trust (allauth's
# rate limits and session list read the client's address by the same rule).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
# `/metrics` answers loopback clients, and others sending `Authorization: Bearer <this>`.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- Mail -------------------------------------------------------------------------

# SMTP from EMAIL_URL (`smtp://user:password@host:587/?tls=True`, dj-email-url's form). With
# none, every message is written as a file under var/mail/, so a local installation can read
# the verification links, invitations and alerts it sends.
EMAIL_URL = env_str("EMAIL_URL", "")
if EMAIL_URL:
    globals().update(dj_email_url.parse(EMAIL_URL))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "MediaPortal <mediaportal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- django-allauth: accounts, e-mail, two-factor, sessions ----------------------------

ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_FORMS = {"login": "accounts.forms.PortalLoginForm"}
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USERNAME_VALIDATORS = "accounts.forms.USERNAME_VALIDATORS"
# Signing in does not wait for the address to be verified (an API client registers and
# works at once); what trusts an address (accepting an invitation, linking a single sign-on
# account) asks for a verified one.
ACCOUNT_EMAIL_VERIFICATION = "optional"
# A new address replaces the old one only once verified.
ACCOUNT_CHANGE_EMAIL = True
# A link opened by a mail scanner must not verify anything: the page asks for a click.
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[MediaPortal] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if env_str("SITE_URL", "").startswith("https:") else "http"
ACCOUNT_LOGOUT_REDIRECT_URL = "login"
ACCOUNT_SESSION_REMEMBER = True
# Failed passwords are counted by our own login throttle (accounts.throttling), shared with
# the API and the admin; allauth's other limits (resets, verification mails) stay on.
ACCOUNT_RATE_LIMITS = {"login_failed": False}
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300

MFA_ADAPTER = "accounts.adapters.MfaAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "MediaPortal")
MFA_RECOVERY_CODE_COUNT = 10
# Codes of the periods just before and after count too: a phone's clock may be 30 s off.
MFA_TOTP_TOLERANCE = 1
# The API sets two-factor up without asking for a verified address; the portal does the same.
# (allauth's reason to ask, a stranger's account taking over the address at a social sign-in,
# cannot happen here: single sign-on links only verified addresses.)
MFA_ALLOW_UNVERIFIED_EMAIL = True

# allauth would read and rewrite the session's row on every request; the idle-timeout
# middleware moves its last-seen time once a minute instead (accounts.middleware).
USERSESSIONS_TRACK_ACTIVITY = False
# A signed-in browser left alone this long is signed out (seconds; 0: only the cookie's age).
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 8 * 3600)

# --- Single sign-on: each provider only when its variables are set ------------------------

SOCIALACCOUNT_PROVIDERS: dict = {}
# Origins the login form may send a browser on to (the CSP's form-action).
SSO_ORIGINS: list[str] = []
OIDC_SERVER_URL = env_str("OIDC_SERVER_URL", "").rstrip("/")
if OIDC_SERVER_URL:
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": "oidc",
                "name": env_str("OIDC_NAME", "Single sign-on"),
                "client_id": env_str("OIDC_CLIENT_ID", ""),
                "secret": env_str("OIDC_CLIENT_SECRET", ""),
                "settings": {
                    "server_url": OIDC_SERVER_URL,
                    # client_secret_post suits Keycloak, Azure AD, Google and Authentik alike;
                    # some providers take only client_secret_basic.
                    "token_auth_method": env_str("OIDC_TOKEN_AUTH_METHOD", "client_secret_post"),
                },
            }
        ],
        "SCOPE": env_str("OIDC_SCOPES", "openid profile email").split(),
        "OAUTH_PKCE_ENABLED": True,
    }
    SSO_ORIGINS.append("{0.scheme}://{0.netloc}".format(urlsplit(OIDC_SERVER_URL)))
# Which claim lists the user's groups, and which group gives which role in which team:
# "group=team-slug:role,other=team-slug:viewer". Re-applied at every sign-in.
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_GROUP_ROLES = env_str("OIDC_GROUP_ROLES", "")
if env_str("GITHUB_CLIENT_ID", ""):
    SOCIALACCOUNT_PROVIDERS["github"] = {
        "APPS": [{"client_id": env_str("GITHUB_CLIENT_ID", ""), "secret": env_str("GITHUB_CLIENT_SECRET", "")}],
        "SCOPE": ["read:user", "user:email"],
    }
    SSO_ORIGINS.append("https://github.com")
# The browser leaves through a form (a POST to our provider login URL answered with a redirect),
# and browsers apply form-action to every redirect after it: a provider that sends people on
# to another host (a federated login page) needs that origin here too.
SSO_ORIGINS.extend(env_list("SSO_EXTRA_ORIGINS", []))
SOCIALACCOUNT_AUTO_SIGNUP = True
# A first sign-in joins the existing account with the same address only when the provider
# says it verified the address and so does our record (accounts.adapters refuses the rest).
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
