"""MediaPortal settings: one module, every deployment-specific value from the environment.

With no service URLs in the environment, the values point at the embedded stack that
`manage.py up` starts under `var/` (its connection details are read from
`var/embedded.json`, its secret key from `var/secret_key`), so a fresh checkout needs
nothing but Python. Secrets have no production default: a deployment without SECRET_KEY
does not start.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mediaportal.env import (
    BASE_DIR,
    EMBEDDED,
    VAR_DIR,
    env_bool,
    env_int,
    env_list,
    env_str,
    local_secret_key,
    metrics_dir,
)

PROMETHEUS_MULTIPROC_DIR = metrics_dir()


# --- Core -------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)

# Services the operator pointed at (a value the embedded stack wrote for itself does not
# count): with any of them, this is a deployment, not a machine running `up` on its own.
CONFIGURED_SERVICES = [
    name
    for name in ("DATABASE_URL", "REDIS_URL", "S3_ENDPOINT_URL")
    if os.environ.get(name) and os.environ[name] != EMBEDDED.get(name)
]


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if CONFIGURED_SERVICES and not DEBUG:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set. This is a deployment (configured: {', '.join(CONFIGURED_SERVICES)}), so set "
            "SECRET_KEY to a long random value, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, and keep it secret."
        )
    return local_secret_key()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:" + env_str("PORT", "8000")).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_htmx",
    "guardian",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.github",
    "allauth.usersessions",
    "mediaportal",
    "accounts",
    "files",
    "sharing",
    "analytics",
]

MIDDLEWARE = [
    # First: every answer (a later middleware's refusal or error too) has an id and is timed.
    "mediaportal.middleware.RequestIdMiddleware",
    "mediaportal.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions and users: during a restore nothing may read the database.
    "mediaportal.middleware.MaintenanceMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "mediaportal.middleware.RejectNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.SessionIdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mediaportal.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "mediaportal.urls"
WSGI_APPLICATION = "mediaportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.portal",
                "analytics.context_processors.alerts",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serving straight from the app folders spares a collectstatic step on every start;
# production may run collectstatic and turn this off.
WHITENOISE_USE_FINDERS = env_bool("STATIC_USE_FINDERS", True)

# --- Database ---------------------------------------------------------------------


def _database() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        socket_dir = env_str("EMBEDDED_PG_SOCKET_DIR", str(VAR_DIR / "pg"))
        url = "postgresql://postgres@" + quote(socket_dir, safe="") + "/mediaportal"
    config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True)
    config.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
    return config


DATABASES = {"default": _database()}
# Where `backup` and `restore` find pg_dump, pg_restore and psql; empty: the closest version
# at least the server's among the embedded wheel's, the PATH's and /usr/lib/postgresql's.
PG_BIN_DIR = env_str("PG_BIN_DIR", "")

# --- Search -----------------------------------------------------------------------

# Configured like CACHES: BACKEND is a files.search.SearchBackend subclass, OPTIONS its
# keyword arguments. work_mem is set for each search's transaction (why: files/search/postgres/backend.py).
SEARCH_BACKEND = {
    "BACKEND": "files.search.postgres.PostgresSearchBackend",
    "OPTIONS": {"work_mem": "64MB"},
}

# --- Redis: cache, sessions, Celery broker ----------------------------------------

REDIS_URL = env_str("REDIS_URL", "unix://" + str(VAR_DIR / "run" / "redis.sock"))
# Seconds to connect to Redis and to wait for each reply (cache, sessions, broker): Redis
# answers in milliseconds, so a wait this long means a hung server, which must cost a
# request about a second, not hold it.
REDIS_SOCKET_TIMEOUT = env_int("REDIS_SOCKET_TIMEOUT", 1)


def _redis_db_url(url: str, db: int) -> str:
    """The same server with another logical database (cache and broker stay apart)."""
    if url.startswith("unix://"):
        return f"{url.split('?')[0]}?db={db}"
    base = url.rstrip("/")
    scheme, rest = base.split("://", 1)
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{db}"


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _redis_db_url(REDIS_URL, 1),
        "KEY_PREFIX": "mp",
        "OPTIONS": {"socket_connect_timeout": REDIS_SOCKET_TIMEOUT, "socket_timeout": REDIS_SOCKET_TIMEOUT},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True

# --- Accounts: sign-in, tokens, e-mail, single sign-on, two-factor --------------------

from mediaportal.auth_settings import *  # noqa: E402,F403

# --- Tenants ----------------------------------------------------------------------

TENANT_DEFAULT_QUOTA_BYTES = env_int("TENANT_DEFAULT_QUOTA_BYTES", 10 * 1024**3)
TENANT_DEFAULT_MAX_UPLOAD_BYTES = env_int("TENANT_DEFAULT_MAX_UPLOAD_BYTES", 10 * 1024**2)
# The largest per-file limit a tenant admin may choose; raising it is an operator decision.
PLATFORM_MAX_UPLOAD_BYTES = env_int("PLATFORM_MAX_UPLOAD_BYTES", 5 * 1024**3)

# --- Portal: bulk actions and ZIP downloads ------------------------------------------

# Each file of a bulk action goes through its own service call and transaction, so one
# request handles a bounded number; a ZIP is streamed from S3, bounded so one click cannot
# tie up a web worker for hours.
PORTAL_BULK_MAX_FILES = env_int("PORTAL_BULK_MAX_FILES", 1000)
PORTAL_ZIP_MAX_FILES = env_int("PORTAL_ZIP_MAX_FILES", 1000)
PORTAL_ZIP_MAX_BYTES = env_int("PORTAL_ZIP_MAX_BYTES", 2 * 1024**3)

# --- S3 ---------------------------------------------------------------------------

S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
S3_PUBLIC_ENDPOINT_URL = env_str("S3_PUBLIC_ENDPOINT_URL", S3_ENDPOINT_URL)
S3_REGION = env_str("S3_REGION", "us-east-1")
S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID")
S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY")
S3_BUCKET = env_str("S3_BUCKET", "media-primary")
S3_REPLICA_ENDPOINT_URL = env_str("S3_REPLICA_ENDPOINT_URL", S3_ENDPOINT_URL)
S3_REPLICA_REGION = env_str("S3_REPLICA_REGION", S3_REGION)
S3_REPLICA_ACCESS_KEY_ID = env_str("S3_REPLICA_ACCESS_KEY_ID", S3_ACCESS_KEY_ID)
S3_REPLICA_SECRET_ACCESS_KEY = env_str("S3_REPLICA_SECRET_ACCESS_KEY", S3_SECRET_ACCESS_KEY)
S3_REPLICA_BUCKET = env_str("S3_REPLICA_BUCKET", "media-replica")
# Where browsers fetch from the replica region (a download served from it while the primary
# lacks the object or is down).
S3_REPLICA_PUBLIC_ENDPOINT_URL = env_str("S3_REPLICA_PUBLIC_ENDPOINT_URL", S3_REPLICA_ENDPOINT_URL)
S3_ARCHIVE_BUCKET = env_str("S3_ARCHIVE_BUCKET", "media-archive")
# The storage class archived blobs are written with: GLACIER costs a fraction of STANDARD and
# needs a restore (hours) before it can be read; the embedded SeaweedFS accepts the class and
# reads at once. DEEP_ARCHIVE, GLACIER_IR or STANDARD_IA are the other usual choices.
S3_ARCHIVE_STORAGE_CLASS = env_str("S3_ARCHIVE_STORAGE_CLASS", "GLACIER")
# Glacier restores: how long S3 keeps the readable copy, the retrieval tier, and how often the
# retrieval task asks whether it is ready.
S3_ARCHIVE_RESTORE_DAYS = env_int("S3_ARCHIVE_RESTORE_DAYS", 2)
S3_ARCHIVE_RESTORE_TIER = env_str("S3_ARCHIVE_RESTORE_TIER", "Standard")
ARCHIVE_RESTORE_POLL_SECONDS = env_int("ARCHIVE_RESTORE_POLL_SECONDS", 900)
# How long an archived blob's primary object outlives the archiving (files.services.lifecycle):
# longer than a presigned URL's life (S3_PRESIGN_SECONDS; a shorter value is raised to it plus
# a minute), so a download that got its URL just before never finds the object gone, and long
# enough for a ZIP being streamed. Keep it below CELERY_VISIBILITY_TIMEOUT (the delete is a
# task with this countdown).
ARCHIVE_PRIMARY_GRACE_SECONDS = env_int("ARCHIVE_PRIMARY_GRACE_SECONDS", 1800)
# A retrieval the store can answer at once (SeaweedFS, or an object not in a cold class, in
# the primary's own S3 service) is copied back during the request; off, every retrieval goes
# through the files.retrieve_blob task.
ARCHIVE_RETRIEVE_INLINE = env_bool("ARCHIVE_RETRIEVE_INLINE", True)
# Server-side encryption of every write and copy, in every bucket (AWS and other S3s):
# "AES256" or "aws:kms" (with S3_SSE_KMS_KEY_ID, else the account's default key). Empty: none
# asked for, which is right for the embedded SeaweedFS, whose volumes are encrypted instead.
S3_SSE = env_str("S3_SSE", "")
S3_SSE_KMS_KEY_ID = env_str("S3_SSE_KMS_KEY_ID", "")
# The embedded stack's SeaweedFS masters (it sets this): `reencrypt_storage` has them compact
# their volumes after rewriting, so no clear byte of an old write is left on disk.
SEAWEEDFS_MASTER_URLS = env_list("SEAWEEDFS_MASTER_URLS", [])
S3_ADDRESSING_STYLE = env_str("S3_ADDRESSING_STYLE", "path")
S3_PRESIGN_SECONDS = env_int("S3_PRESIGN_SECONDS", 300)
# Every S3 call: seconds to connect (TLS included) and to wait on the socket (for each send
# or receive, not a whole transfer), and attempts in all. An S3 that stops answering then
# costs a call at most attempts × (connect + read) + 1 s of backoff: 13 s by default, so an
# upload ends with a 503 within 15 s (a frozen server accepts the connection: about 10 s).
S3_CONNECT_TIMEOUT = env_int("S3_CONNECT_TIMEOUT", 2)
S3_READ_TIMEOUT = env_int("S3_READ_TIMEOUT", 4)
S3_MAX_ATTEMPTS = env_int("S3_MAX_ATTEMPTS", 2)

# One storage per bucket role, each django-storages' S3Storage (files.storage.BucketStorage)
# built from that role's S3_* settings above; there is no `default`, so nothing can write to a
# bucket without naming its role. A changed S3_* setting (tests) rebuilds them on next use.
STORAGES = {
    "primary": {"BACKEND": "files.storage.BucketStorage", "OPTIONS": {"role": "primary"}},
    "archive": {"BACKEND": "files.storage.BucketStorage", "OPTIONS": {"role": "archive"}},
    "replica": {"BACKEND": "files.storage.BucketStorage", "OPTIONS": {"role": "replica"}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# An upload sent again with the same Idempotency-Key within this many hours returns the first
# upload's file instead of storing a copy.
UPLOAD_IDEMPOTENCY_HOURS = env_int("UPLOAD_IDEMPOTENCY_HOURS", 24)
# The portal sends files above this size as resumable multipart uploads straight to S3 (the
# parts go in parallel and survive a page reload); smaller ones in one POST to the API.
UPLOAD_MULTIPART_THRESHOLD_BYTES = env_int("UPLOAD_MULTIPART_THRESHOLD_BYTES", 16 * 1024**2)
# The smallest part of a multipart upload (S3's own minimum is 5 MiB); bigger files get bigger
# parts so that none has more than S3's 10,000.
UPLOAD_MULTIPART_PART_BYTES = max(env_int("UPLOAD_MULTIPART_PART_BYTES", 5 * 1024**2), 5 * 1024**2)
# How long a multipart upload may take, reloads and resumes included, before the sweep aborts it.
UPLOAD_MULTIPART_HOURS = env_int("UPLOAD_MULTIPART_HOURS", 24)

# --- Processing -------------------------------------------------------------------

# Images above this many pixels fail with `image_too_large` before being decoded.
PROCESSING_MAX_PIXELS = env_int("PROCESSING_MAX_PIXELS", 50_000_000)
# Images with a longer side fail with `image_dimensions_unsupported` before being decoded:
# JPEG's own limit, past anything a camera or scanner makes; a longer strip within the pixel
# limit is a few pixels wide and its renditions would be slivers.
PROCESSING_MAX_SIDE = env_int("PROCESSING_MAX_SIDE", 65_500)
# Extracted text kept per file (characters); more is cut, so search stays bounded.
PROCESSING_MAX_TEXT_CHARS = env_int("PROCESSING_MAX_TEXT_CHARS", 200_000)
# Largest decompressed size read from an office document (zip) before it counts as a bomb.
PROCESSING_MAX_UNZIPPED_BYTES = env_int("PROCESSING_MAX_UNZIPPED_BYTES", 200 * 1024**2)
# SVGs are checked as text before acceptance; these bound that check.
PROCESSING_MAX_SVG_BYTES = env_int("PROCESSING_MAX_SVG_BYTES", 2 * 1024**2)
PROCESSING_MAX_SVG_USES = env_int("PROCESSING_MAX_SVG_USES", 32)
# XML elements parsed from one office document (all its parts) before it fails with
# `document_too_complex`: bounds the time a part of millions of empty elements costs.
PROCESSING_MAX_XML_ELEMENTS = env_int("PROCESSING_MAX_XML_ELEMENTS", 5_000_000)
# The accepted types (comma-separated MIME types); empty means the built-in list in files/processing/sniff.py.
ALLOWED_CONTENT_TYPES = env_list("ALLOWED_CONTENT_TYPES", [])
# Where derived models (the label classifier as ONNX) are cached.
MODEL_CACHE_DIR = Path(env_str("MODEL_CACHE_DIR", str(VAR_DIR / "models")))
# A worker that could not load the classifier labels nothing for this long, then tries again.
LABELS_RETRY_MINUTES = env_int("LABELS_RETRY_MINUTES", 5)
# Files pending or processing for longer are queued again by a sweep (their task was lost:
# the broker was down at upload, or the worker died). Must exceed a task's hard time limit.
PROCESSING_STALE_MINUTES = env_int("PROCESSING_STALE_MINUTES", 15)
# A version whose processing was cut off this many times (the hard time limit, a worker
# killed or lost) fails with `processing_timed_out` instead of being queued again.
PROCESSING_MAX_ATTEMPTS = env_int("PROCESSING_MAX_ATTEMPTS", 3)
# A processing run's time limits in seconds (read as workers start). At the soft one the file
# fails with `processing_timed_out`; the hard one ends a run stuck in native code, and counts
# as one of its PROCESSING_MAX_ATTEMPTS. The hard one must stay below PROCESSING_STALE_MINUTES.
PROCESSING_SOFT_TIME_LIMIT = env_int("PROCESSING_SOFT_TIME_LIMIT", 300)
PROCESSING_TIME_LIMIT = env_int("PROCESSING_TIME_LIMIT", 360)

# --- OCR (text in pictures and scanned PDFs; tenants opt out with Tenant.ocr_enabled) ---
# Pages read per file, seconds spent per file (checked between pages, within the soft time
# limit above), and pixels per rendered PDF page.
OCR_MAX_PAGES = env_int("OCR_MAX_PAGES", 20)
OCR_TIME_LIMIT_SECONDS = env_int("OCR_TIME_LIMIT_SECONDS", 120)
OCR_MAX_PAGE_PIXELS = env_int("OCR_MAX_PAGE_PIXELS", 4_000_000)

# --- Celery -----------------------------------------------------------------------


def _broker_url(url: str) -> str:
    if url.startswith("unix://"):
        return "redis+socket://" + url[len("unix://") :].split("?")[0] + "?virtual_host=0"
    return _redis_db_url(url, 0)


CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", _broker_url(REDIS_URL))
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "processing"
# Per-upload work, sweeps and replication run on separate queues, so a long sweep never
# delays a thumbnail and each can get its own workers.
CELERY_TASK_ROUTES = {
    "files.process_file": {"queue": "processing"},
    "files.trash_purge_expired": {"queue": "maintenance"},
    "files.upload_sessions_expire": {"queue": "maintenance"},
    "files.upload_keys_expire": {"queue": "maintenance"},
    "files.orphan_sweep": {"queue": "maintenance"},
    "files.reindex_tenant": {"queue": "maintenance"},
    "files.requeue_stale_processing": {"queue": "maintenance"},
    "files.archive_sweep": {"queue": "maintenance"},
    "files.archive_release_primary": {"queue": "maintenance"},
    "files.retrieve_blob": {"queue": "maintenance"},
    "files.run_export": {"queue": "maintenance"},
    "files.exports_expire": {"queue": "maintenance"},
    "files.write_manifests": {"queue": "maintenance"},
    "files.replicate_blob": {"queue": "replication"},
    "files.replicate_rendition": {"queue": "replication"},
    "files.repair_blob": {"queue": "replication"},
    "files.replication_reconcile": {"queue": "replication"},
    "files.integrity_scrub": {"queue": "maintenance"},
    "sharing.notify_first_open": {"queue": "maintenance"},
    # A slow or dead receiver holds a worker for up to its timeout: never in front of uploads.
    "analytics.deliver_webhook": {"queue": "webhooks"},
    "analytics.webhooks_requeue": {"queue": "maintenance"},
    "analytics.roll_up_usage": {"queue": "maintenance"},
    "analytics.snapshot_storage": {"queue": "maintenance"},
    "analytics.check_alerts": {"queue": "maintenance"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How long a taken-but-unacknowledged task waits before Redis hands it to another worker
# (what brings back the task of a worker that died mid-way). Longer than any task runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    # Sweeps for such tasks run every interval × throttle seconds (kombu's defaults: 10 × 10).
    "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_RESTORE_THROTTLE", 10),
    # A hung broker (frozen, not down) would otherwise hold a publish, and the upload that
    # queues its processing after commit, for as long as it hangs.
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
}
# A publish tries twice (one retry at once): about 2 s with a hung broker. What it fails to
# queue stays pending, and the stale-processing sweep queues it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# Empty on purpose: the scheduler writes this over its tables at every start, undoing edits made
# in the admin. The default schedules are in mediaportal/schedules.py, installed after `migrate`.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
# No result backend, so nothing to clean: without this, beat would install celery.backend_cleanup.
CELERY_RESULT_EXPIRES = None

# --- Webhooks ---------------------------------------------------------------------

# Tries per delivery, the first included; the waits between them grow (analytics.services.
# webhook_delivery.RETRY_DELAYS: 30 s, 2 min, 8 min, 30 min, 2 h, 6 h, then 6 h each).
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 7)
# Targets on private, loopback, link-local and other non-public addresses are refused, at
# creation (a literal address) and at each delivery (what the name resolves to then), so a
# webhook cannot reach the services beside the portal. Set for a receiver on your own network.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)

# --- API --------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "mediaportal.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "mediaportal.pagination.CursorPagination",
    "EXCEPTION_HANDLER": "mediaportal.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"anon": env_str("API_ANON_RATE", "120/min")},
    "PAGE_SIZE": 50,
    # `?format=` is ours (rendition formats), not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MediaPortal API",
    "DESCRIPTION": (
        "Upload, organise, find, share and keep images and documents. "
        "Authenticate with `Authorization: Token <key>` (from `auth/login` or `auth/tokens/`). "
        'Errors are JSON `{"detail": ..., "code": ...}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The API speaks JSON (uploads declare their multipart bodies themselves). Forms still parse,
    # for the browsable API, but a form cannot say null, so documenting them would promise more.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    # Several answers have a `kind`; each set of values gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {"SimilarKindEnum": "files.processing.similar.KINDS"},
}

# --- Analytics: roll-ups -------------------------------------------------------------

# The usage roll-up reads the audit trail again from the highest event id it saw this long
# ago: an event's id is taken when it is inserted, and its transaction (an upload's, which
# writes to S3 before it commits) may commit later than events inserted after it.
ANALYTICS_LATE_COMMIT_SECONDS = env_int("ANALYTICS_LATE_COMMIT_SECONDS", 3600)
# The longest range the usage endpoint answers for, and the rows kept per breakdown of a
# storage snapshot (the largest users and top-level folders).
ANALYTICS_USAGE_MAX_DAYS = 366
ANALYTICS_BREAKDOWN_MAX_ROWS = env_int("ANALYTICS_BREAKDOWN_MAX_ROWS", 100)

# --- Storage cost (analytics) ---------------------------------------------------

# What a tenant's storage costs, for the cost estimate and budget alerts: one currency, and a
# price per GB-month per tier, where a GB is a GiB (2**30 bytes) as the byte counts are binary.
# The defaults are S3's list prices in us-east-1: Standard for the hot tier (primary objects and
# their renditions), Glacier Flexible Retrieval for the archive, Standard-IA for the replica.
STORAGE_CURRENCY = env_str("STORAGE_CURRENCY", "USD")
STORAGE_PRICE_HOT_GB_MONTH = Decimal(env_str("STORAGE_PRICE_HOT_GB_MONTH", "0.023"))
STORAGE_PRICE_ARCHIVE_GB_MONTH = Decimal(env_str("STORAGE_PRICE_ARCHIVE_GB_MONTH", "0.0036"))
STORAGE_PRICE_REPLICA_GB_MONTH = Decimal(env_str("STORAGE_PRICE_REPLICA_GB_MONTH", "0.0125"))

# --- Logging ----------------------------------------------------------------------

# `json`: one JSON object a line with the request id (mediaportal.logs), for log collectors;
# `plain` for people at a console (`make run`). gunicorn's logger reads it from the environment.
LOG_FORMAT = env_str("LOG_FORMAT", "json")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "mediaportal.logs.PlainLogFormatter"},
        "json": {"()": "mediaportal.logs.JsonLogFormatter"},
    },
    # Share-link tokens and public file ids never reach a log line (mediaportal/logs.py).
    "filters": {"redact": {"()": "mediaportal.logs.RedactCapabilities"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}

# --- Production hardening (enabled by HTTPS deployments) ---------------------------


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL: what a Content-Security-Policy source names."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


# Pages load scripts, styles and fonts from this site only, never inline script; images
# (thumbnails, previews) and uploads also go to S3's public address; nobody may frame them.
_S3_SOURCES = list(
    dict.fromkeys(
        _origin(url) if url else "https://*.amazonaws.com"
        for url in (S3_PUBLIC_ENDPOINT_URL, S3_REPLICA_PUBLIC_ENDPOINT_URL)
    )
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *_S3_SOURCES],
        "media-src": ["'self'", *_S3_SOURCES],
        "connect-src": ["'self'", *_S3_SOURCES],
        # The file page's PDF viewer: a frame of the PDF's presigned URL, served inline.
        "frame-src": ["'self'", *_S3_SOURCES],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", *SSO_ORIGINS],  # noqa: F405
        "frame-ancestors": ["'none'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

if env_bool("SECURE_SSL", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # A year at least: browsers then refuse plain HTTP to this host for that long.
    SECURE_HSTS_SECONDS = max(env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600), 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
