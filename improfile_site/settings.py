"""Django settings for improfile: every value that varies by deployment comes from the environment.

One ``environ.Env`` read here; ``.env.example`` documents every variable. With no configuration
at all the project runs for development: SQLite under ``var/`` and the built-in Tencent emulator.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from profiles.im.config import ConfigError, load_callback_token, load_im_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.is_file():
    environ.Env.read_env(env_file)

# Off unless set: a deployment that forgets it is not in debug mode with a public key. Development says
# so itself: `make run` and the test suite (tests/development_env.py) set DEBUG=on.
DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-dev-only-improfile")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
else:
    for required in ("SECRET_KEY", "ALLOWED_HOSTS"):
        if not env.str(required, default=""):
            raise ImproperlyConfigured(
                f"{required} is not set; it is required when DEBUG is off "
                "(DEBUG is off unless set; for development set DEBUG=on, as `make run` does)."
            )
    SECRET_KEY = env.str("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

try:
    IM = load_im_config(os.environ, debug=DEBUG)
except ConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None
# Empty: the webhook refuses every call. On the built-in emulator it defaults to a fixed dev token.
IM_CALLBACK_TOKEN = load_callback_token(os.environ, uses_emulator=IM.uses_emulator)
# Keys the audit chain and signs its end, anchors and digests (profiles.auditchain). Kept outside the
# database, so whoever can write the database cannot recompute the chain; never SECRET_KEY.
AUDIT_KEY = env.str("AUDIT_KEY", default="")
if not AUDIT_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("AUDIT_KEY is not set; it is required when DEBUG is off.")
    AUDIT_KEY = "improfile-dev-only-audit-key"
elif AUDIT_KEY == SECRET_KEY:
    raise ImproperlyConfigured("AUDIT_KEY must differ from SECRET_KEY.")
# Where signed digests of the chain's end are written, outside the database (profiles.services.digests),
# at least every AUDIT_DIGEST_INTERVAL seconds while requests are sealed, and by `audit_digest`.
AUDIT_DIGEST_DIR = Path(env.str("AUDIT_DIGEST_DIR", default=str(VAR_DIR / "audit-digests")))
AUDIT_DIGEST_INTERVAL = env.int("AUDIT_DIGEST_INTERVAL", default=300)
# How many demo accounts `make run` seeds into the embedded emulator.
IM_DEMO_ACCOUNTS = env.int("IM_DEMO_ACCOUNTS", default=25)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "axes",  # Logins: lockout after repeated failures (see the Logins block below)
    "django_otp",  # Logins: two-factor codes
    "django_otp.plugins.otp_totp",
    "profiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the one a staff member chose (profiles.middleware, after authentication), else
    # the browser's Accept-Language, else English.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # Logins: request.user.is_verified()
    "profiles.middleware.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "profiles.logins.middleware.SessionPolicyMiddleware",  # Logins: idle expiry, two-factor sessions
    "axes.middleware.AxesMiddleware",  # Logins: the lockout page; axes wants to be last
]

ROOT_URLCONF = "improfile_site.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "improfile_site.wsgi.application"

_default_db = env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'improfile.sqlite3'}")
if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite as Django offers it for several processes: WAL (readers never wait for the writer, and
    # the audit connection commits while a request's transaction is open) and a busy timeout for
    # the writers that wait.
    _default_db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        **_default_db.get("OPTIONS", {}),
    }
    # A file, not :memory:, so the test database can be shared by both connections below; one per
    # process, so two test runs (or a run and a benchmark) never share it.
    _default_db.setdefault("TEST", {}).setdefault("NAME", str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))

if _default_db["ENGINE"] == "django.db.backends.postgresql":
    # psycopg's server-side binding: the statements every call to Tencent runs (the audit row, the
    # rate limit, the seal, the local copy) are prepared once per connection, not parsed each time.
    _default_db["OPTIONS"] = {"server_side_binding": True, **_default_db.get("OPTIONS", {})}

# "autocommit" is a second connection to the same database that is never inside a caller's
# transaction: the service layer's own. Audit rows, the rate limit, the local copies and job claims
# are written through it, so what was sent to Tencent (and what Tencent now holds) is recorded
# whatever the caller's own transaction does, and no lock is held across a call to Tencent. Its
# transactions read, then write; on SQLite they begin IMMEDIATE (taking the write lock first, waiting
# for it), so two never fail upgrading a read to a write. PostgreSQL locks rows (select_for_update).
_service_db = {**_default_db, "TEST": dict(_default_db.get("TEST", {}))}
if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    _service_db["OPTIONS"] = {**_default_db["OPTIONS"], "transaction_mode": "IMMEDIATE"}
DATABASES = {"default": _default_db, "autocommit": _service_db}
DATABASE_ROUTERS = ["profiles.routers.AuditRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Languages: English and Simplified Chinese (profiles/locale; Django's admin brings its own) ---
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "profiles" / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

LOGIN_URL = "admin:login"

# --- Logins: lockout, two-factor codes, idle sessions -------------------------------------------
# django-axes counts failed logins (a wrong password, a wrong or missing authentication code) per
# username and, separately, per client address: LOGIN_FAILURE_LIMIT failures for either within
# LOGIN_COOLOFF_MINUTES lock it until that long has passed since the last attempt. Unlock: delete the
# access attempt in the admin, or `manage.py axes_reset_username USERNAME` / `axes_reset_ip ADDRESS`.


def _whole_number_at_least_1(name: str, default: int) -> int:
    """An environment variable that must be a whole number ≥ 1; a bad one stops start-up, named."""
    raw = env.str(name, default=str(default)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least 1, not {raw!r}.")
    return int(raw)


LOGIN_FAILURE_LIMIT = _whole_number_at_least_1("LOGIN_FAILURE_LIMIT", 5)
LOGIN_COOLOFF_MINUTES = _whole_number_at_least_1("LOGIN_COOLOFF_MINUTES", 15)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username or address
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
# Two separate parameters: either one reaching the limit locks (a nested list would mean the pair).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success does not wipe the failures: it would also wipe those of its address, so someone with an
# account of their own could reset the address's count between guesses at other accounts.
AXES_RESET_ON_SUCCESS = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True  # every refused attempt is recorded, and restarts the wait
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # one row per failure, kept after an unlock: what auditors read
# Masked in the stored form data and in axes' log lines (the password always is). The username and the
# address are not: they are the record's own columns, and what an operator needs in the log.
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "csrfmiddlewaretoken"]
AXES_VERBOSE = False  # no start-up banner on every command's stderr; log lines name username and address
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "profiles.logins.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "profiles.logins.clientip.client_ip_address"
# Behind a reverse proxy: the header it sets (e.g. X-Forwarded-For) and how many proxies append to it.
# Unset, only the connection's own address counts, so a forged header cannot dodge the lockout.
LOGIN_CLIENT_IP_HEADER = env.str("LOGIN_CLIENT_IP_HEADER", default="").strip()
LOGIN_TRUSTED_PROXIES = _whole_number_at_least_1("LOGIN_TRUSTED_PROXIES", 1)
if LOGIN_CLIENT_IP_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", LOGIN_CLIENT_IP_HEADER):
    raise ImproperlyConfigured(
        f"LOGIN_CLIENT_IP_HEADER must be a header name such as X-Forwarded-For, not {LOGIN_CLIENT_IP_HEADER!r}."
    )
# Two-factor codes (TOTP, django-otp) for the kinds of staff listed: superusers, reviewers (Audit
# reviewers), editors (Profile editors), all (every staff user). Empty: nobody is asked.
REQUIRE_TWO_FACTOR = [word.strip().lower() for word in env.list("REQUIRE_TWO_FACTOR", default=[]) if word.strip()]
_two_factor_kinds = {"superusers", "reviewers", "editors", "all"}
if set(REQUIRE_TWO_FACTOR) - _two_factor_kinds:
    raise ImproperlyConfigured(
        f"REQUIRE_TWO_FACTOR: unknown {sorted(set(REQUIRE_TWO_FACTOR) - _two_factor_kinds)}; "
        f"use a comma-separated list of {', '.join(sorted(_two_factor_kinds))}."
    )
OTP_TOTP_ISSUER = "improfile"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# A signed-in session unused for SESSION_IDLE_MINUTES is signed out. The last activity is written to the
# session at most once a minute (not on every request), and the cookie and the stored session expire
# that long after it too.
SESSION_IDLE_MINUTES = _whole_number_at_least_1("SESSION_IDLE_MINUTES", 30)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
# --- end of Logins ---------------------------------------------------------------------------------

# Background jobs (django-q2). A job runs in slices of IM_JOB_SLICE_SECONDS that re-queue
# themselves, so a task never nears Q_TIMEOUT; a slice whose worker died is delivered again after
# Q_RETRY seconds, and the job's items whose claim lapsed are taken up again.
IM_JOB_SLICE_SECONDS = env.float("IM_JOB_SLICE_SECONDS", default=20.0)
IM_JOB_CONCURRENCY = env.int("IM_JOB_CONCURRENCY", default=8)
IM_JOB_MAX_ATTEMPTS = env.int("IM_JOB_MAX_ATTEMPTS", default=5)
IM_JOB_BACKOFF_BASE = env.float("IM_JOB_BACKOFF_BASE", default=1.0)
IM_JOB_BACKOFF_CAP = env.float("IM_JOB_BACKOFF_CAP", default=60.0)
# A worker's claim on items lasts this long; after it lapses (the worker died) others take them.
IM_JOB_CLAIM_SECONDS = env.int("IM_JOB_CLAIM_SECONDS", default=30)
Q_CLUSTER = {
    "name": "improfile",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=120),
    "retry": env.int("Q_RETRY", default=150),
    "max_attempts": 0,  # a slice is re-delivered until the job is finished; jobs are idempotent
    "catch_up": False,
    "ack_failures": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_usersig": {"()": "profiles.im.redact.RedactSecretsFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_usersig"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # urllib3 logs request lines, and the URL carries the UserSig.
        "urllib3": {"level": "WARNING"},
        # runserver's access log prints query strings: a callback's Sign among them.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        # Logins: django-axes logs each failure and lockout at WARNING; its INFO lines (every sign-in, every
        # clean-up) repeat what its tables hold.
        "axes": {"level": "WARNING"},
    },
}

# --- Production serving: HTTPS, HSTS, cookies, static files, Content-Security-Policy (issue 14) --------
# Secure by default with DEBUG off (`manage.py check --deploy --fail-level WARNING` passes with the
# production part of .env.example filled in); each HTTPS setting can be changed for the set-up at hand.
# README, Deploy, says how a reverse proxy in front fits in.

# whitenoise serves the collected static files from the WSGI server (gunicorn), with DEBUG off too. The CSP
# middleware comes before it, so static files carry the policy as well (an SVG opened on its own).
_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware")
MIDDLEWARE[_security + 1:_security + 1] = ["csp.middleware.CSPMiddleware", "whitenoise.middleware.WhiteNoiseMiddleware"]
INSTALLED_APPS.append("csp")  # django-csp's system checks (settings of older versions are refused)

# Hashed, compressed copies written by collectstatic, served for a year. In development (and the test
# suite, which runs no collectstatic) the files are found where they are, as runserver does.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG else "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS = DEBUG

# Behind a reverse proxy that terminates TLS, Django sees plain HTTP; the header the proxy sets says the
# browser's request was HTTPS. Only set it when the proxy always sets (or strips) that header itself.
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="").strip()
if _proxy_ssl_header:
    _meta_name = _proxy_ssl_header.upper().replace("-", "_")
    _meta_name = _meta_name if _meta_name.startswith("HTTP_") else f"HTTP_{_meta_name}"
    if not re.fullmatch(r"HTTP_[A-Z0-9_]+", _meta_name):
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must name a request header, e.g. HTTP_X_FORWARDED_PROTO (X-Forwarded-Proto)."
        )
    SECURE_PROXY_SSL_HEADER = (_meta_name, "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# A load balancer's health probe speaks plain HTTP to the server itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# No inline script or style anywhere (the admin's own pages and ours load static files), so neither
# needs 'unsafe-inline'; the dashboard's charts are SVG with presentation attributes and CSS classes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# --- Upload limits (bad input never crashes) -------------------------------------------------------
# The largest file an upload (the CSV import) or `im_set --csv` accepts, in MB (1 MB = 1,048,576
# bytes). profiles.uploads stops a bigger upload before its bytes are read, for every multipart
# request, before the CSRF check reads the form. Request bodies that are not files (the webhook's
# JSON, form fields) stay bounded by Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
UPLOAD_MAX_MB = env.float("UPLOAD_MAX_MB", default=20)
if UPLOAD_MAX_MB <= 0:
    raise ImproperlyConfigured("UPLOAD_MAX_MB must be a positive number of megabytes.")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "profiles.uploads.UploadLimitMiddleware")

# --- Scale-out: files through storages, the Redis broker, the workers' heartbeat, /healthz -----------
# Files that a second web server or a worker on another machine must read go through Django's storage
# API (profiles/services/storages.py): CSV uploads between preview and confirm, and audit archives.
# Folders under var/ by default; with several machines, point them at a folder they share, or replace a
# backend below with an object store's (e.g. django-storages' S3Storage), keeping the names.
CSV_UPLOAD_DIR = env.str("CSV_UPLOAD_DIR", default=str(VAR_DIR / "uploads"))
AUDIT_ARCHIVE_DIR = env.str("AUDIT_ARCHIVE_DIR", default=str(VAR_DIR / "audit-archives"))
_folder_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {  # beside "default" and "staticfiles" (the Production serving block)
    **STORAGES,
    "csv_uploads": {**_folder_storage, "OPTIONS": {"location": CSV_UPLOAD_DIR, "file_permissions_mode": 0o600}},
    "audit_archives": {**_folder_storage, "OPTIONS": {"location": AUDIT_ARCHIVE_DIR, "file_permissions_mode": 0o600}},
}
# REDIS_URL set: django-q2 queues tasks in Redis instead of the database (the ORM broker). Workers also
# publish their heartbeat there; with the ORM broker it goes to the "qcluster" cache, a table in the
# shared database, so every web server sees every machine's cluster (profiles/selectors/health.py).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        # Not echoed: the URL may hold Redis's password.
        raise ImproperlyConfigured("REDIS_URL must be a redis://, rediss:// or unix:// URL (redis://HOST:6379/0).")
    del Q_CLUSTER["orm"]
    Q_CLUSTER["redis"] = REDIS_URL
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "qcluster": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "improfile_qcluster_cache"},
}
Q_CLUSTER["cache"] = "qcluster"
# --- end of Scale-out ------------------------------------------------------------------------------
