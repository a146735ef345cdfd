"""Settings of the registry, read from the environment through one reader (django-environ).

Nothing else in the project reads the environment. With ``DATABASE_URL`` / ``REDIS_URL`` unset, the
embedded PostgreSQL and Redis of ``registry.embedded`` are started (development and tests only).
"""

import datetime as dt
import zoneinfo
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

REGISTRY_ENV = env.str("REGISTRY_ENV", default="development")
if REGISTRY_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("REGISTRY_ENV must be 'development' or 'production'")
PRODUCTION = REGISTRY_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION:
    for required in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
        if required not in env.ENVIRON:
            raise ImproperlyConfigured(f"{required} must be set when REGISTRY_ENV=production")
SECRET_KEY = env.str("SECRET_KEY", default="development-only-secret-key-not-for-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "pgtrigger",
    "django_celery_beat",
    "health_check",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rules",
    "axes",
    "import_export",
    "registry",
    "accounts",
    "tracking",
    "issuance",
    "compliance",
    "interop",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, /api/docs/ assets) under gunicorn: from the app directories while
    # DEBUG, from STATIC_ROOT (manage.py collectstatic) otherwise.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # After LocaleMiddleware: shows times in Asia/Shanghai to readers of Chinese.
    "registry.middleware.LanguageTimeZoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: it turns a lockout raised by the axes backend into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "registry.urls"
WSGI_APPLICATION = "registry.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project-wide overrides of admin templates (they must come before the admin app's own).
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

if "DATABASE_URL" in env.ENVIRON:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    EMBEDDED_DATABASE = False
else:
    from registry.embedded import ensure_postgres

    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", **ensure_postgres()}}
    EMBEDDED_DATABASE = True
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...)")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# Every session starts with django-pgtrigger's ignore list set (empty). Its trigger functions
# read it inside an exception block; unset, the read fails and aborts a subtransaction on every
# trigger call, and each abort walks the transaction's queue of pending after-trigger events (the
# deferred foreign-key checks): a bulk load of n blocks then took time in n squared
# (docs/performance.md).
_options = DATABASES["default"].setdefault("OPTIONS", {})
_options["options"] = f"{_options.get('options', '')} -c pgtrigger.ignore={{}}".strip()
DATABASES["default"].setdefault("TEST", {})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

if "REDIS_URL" in env.ENVIRON:
    REDIS_URL = env.str("REDIS_URL")
else:
    from registry.embedded import ensure_redis

    REDIS_URL = ensure_redis()
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# With the Redis broker a task taken by a worker that dies without acknowledging it (acks late)
# goes back to the queue only once this many seconds have passed since it was delivered. It must
# exceed the longest task (a uniqueness report over the whole registry), or a task still running
# is delivered a second time; tasks are idempotent, so that costs time, not correctness.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
# How long one attempt to reach the broker may take (kombu tries about twice): a request that
# queues work (a uniqueness report) answers 503 after this, not after kombu's 4 s default.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=1.0)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Grid factors of every period with grid data are recomputed this often (seconds).
REGISTRY_GRID_FACTORS_INTERVAL_SECONDS = env.int(
    "REGISTRY_GRID_FACTORS_INTERVAL_SECONDS", default=3600
)
CELERY_BEAT_SCHEDULE = {
    "ledger-seal": {"task": "registry.tasks.ledger_seal_task", "schedule": 60.0},
    "units-expire": {"task": "tracking.tasks.units_expire_task", "schedule": 3600.0},
    "idempotency-purge": {"task": "registry.tasks.idempotency_purge_task", "schedule": 3600.0},
    "token-purge": {"task": "registry.tasks.token_purge_task", "schedule": 3600.0},
    "grid-factors-recompute": {
        "task": "tracking.tasks.grid_factors_recompute_task",
        "schedule": float(REGISTRY_GRID_FACTORS_INTERVAL_SECONDS),
    },
    "uniqueness-reports-resend-stalled": {
        "task": "audit.tasks.uniqueness_reports_resend_stalled_task",
        "schedule": 300.0,
    },
}

# Redis shared by every web process: the API's rate limits count across gunicorn workers.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # redis-py spells the embedded Redis's unix socket unix://, kombu (Celery) redis+socket://.
        "LOCATION": env.str(
            "CACHE_URL", default=REDIS_URL.replace("redis+socket://", "unix://", 1)
        ),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="registry"),
    }
}

AUTHENTICATION_BACKENDS = [
    # First: refuses every password check (admin log-in and API token) while locked out.
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes unauthenticated requests 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "registry.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["registry.api.throttles.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"writes": env.str("API_WRITE_RATE", default="3000/minute")},
    "DEFAULT_PAGINATION_CLASS": "registry.api.pagination.PagePagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "registry.api.schema.RegistryAutoSchema",
    "EXCEPTION_HANDLER": "registry.api.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["registry.api.parsers.JSONParser"],
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=10)),
    "TOKEN_LIMIT_PER_USER": None,
    "AUTO_REFRESH": False,
}
# A stored first response answers repeats of its Idempotency-Key for this long (at least 24 h).
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=48)
if API_IDEMPOTENCY_HOURS < 24:
    raise ImproperlyConfigured("API_IDEMPOTENCY_HOURS must be at least 24")
SPECTACULAR_SETTINGS = {
    "TITLE": "Environmental attribute registry API",
    "DESCRIPTION": (
        "One serial number per MWh, tonne CO2e and tonne of coal equivalent, shared by every "
        "mechanism (GEC, I-REC, CCER, ...). Errors are application/problem+json with a stable "
        "`code`. Every POST accepts an `Idempotency-Key` header."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "MechanismKindEnum": "registry.models.Mechanism.Kind",
        "OrganisationKindEnum": "accounts.models.Organisation.Kind",
        "LedgerEventKindEnum": "registry.models.LedgerEvent.Kind",
        "ComplianceSchemeKindEnum": "compliance.models.ComplianceScheme.Kind",
        "AllocationKindEnum": "compliance.models.Allocation.Kind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "registry.api.schema.add_problem_responses",
    ],
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The registry's own zone: where no request says otherwise (commands, tasks, tests) and for the
# day boundaries of statements. Pages show times in Asia/Shanghai to readers of Chinese and in
# REGISTRY_DISPLAY_TIME_ZONE to everyone else (registry.middleware.LanguageTimeZoneMiddleware).
TIME_ZONE = "Asia/Shanghai"
REGISTRY_DISPLAY_TIME_ZONE = env.str("REGISTRY_DISPLAY_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
try:
    zoneinfo.ZoneInfo(REGISTRY_DISPLAY_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        "REGISTRY_DISPLAY_TIME_ZONE must be an IANA time zone such as UTC or Europe/Paris"
    ) from None

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"

SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)

# Password guessing (django-axes): after AXES_FAILURE_LIMIT failed log-ins for one username from
# one address, that pair is locked out for AXES_COOLOFF_HOURS; a success resets the count. Locking
# the pair, not the username alone, keeps a guesser elsewhere from locking an administrator out.
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE = PRODUCTION

# Registry policy: production above capacity x hours x this margin is refused as implausible.
REGISTRY_CAPACITY_MARGIN = env.float("REGISTRY_CAPACITY_MARGIN", default=1.10)
# A production record may not end later than this many hours after "now" (clock skew allowance).
REGISTRY_FUTURE_TOLERANCE_HOURS = env.int("REGISTRY_FUTURE_TOLERANCE_HOURS", default=0)
# R16: a retirement's claim period must overlap the calendar year of the units' production
# (vintage), widened by this many months on each side: a quarter either way admits reporting
# periods that straddle the new year (a fiscal year, a December-January event) without letting
# 2025 units stand for 2019.
REGISTRY_CLAIM_WINDOW_MONTHS = env.int("REGISTRY_CLAIM_WINDOW_MONTHS", default=3)
# Configurable rules of the catalogue (issuance/rules.py) switched off, e.g. "R13,R14".
REGISTRY_DISABLED_RULES = env.list("REGISTRY_DISABLED_RULES", default=[])
# R6: I-REC(E) issuance in China is limited to generation up to this day (local time, inclusive).
try:
    REGISTRY_IREC_CHINA_LAST_GENERATION_DAY = dt.date.fromisoformat(
        env.str("REGISTRY_IREC_CHINA_LAST_GENERATION_DAY", default="2024-12-31")
    )
except ValueError:
    raise ImproperlyConfigured(
        "REGISTRY_IREC_CHINA_LAST_GENERATION_DAY must be a date as YYYY-MM-DD"
    ) from None
# ETS pre-allocation when no quantity is given: this percent of the entity's verified emissions
# of the year before (docs/domain.md, the national ETS: 70 %), rounded down to whole allowances.
REGISTRY_ETS_PREALLOCATION_PERCENT = env.int("REGISTRY_ETS_PREALLOCATION_PERCENT", default=70)
# Residual grid factors remove the MWh whose attributes are claimed in this registry: certificates
# "retired" for consumers in the region, "exported" from its projects and, if the policy says so,
# "valid" ones (issued, active or frozen, not yet retired) of its projects.
REGISTRY_RESIDUAL_POLICY = env.list("REGISTRY_RESIDUAL_POLICY", default=["retired", "exported"])
if not set(REGISTRY_RESIDUAL_POLICY) <= {"retired", "exported", "valid"}:
    raise ImproperlyConfigured(
        "REGISTRY_RESIDUAL_POLICY takes a comma-separated list of retired, exported, valid"
    )
# R14: mechanisms whose units count toward the host country's mitigation target, so that moving
# them to an account of another country needs a corresponding adjustment. Credits are mitigation
# outcomes achieved on the host's territory (CCER, Verra VCU, Gold Standard VER, local PHCER).
# Not GEC / I-REC / TIGR: energy attributes of a MWh, not tonnes of mitigation. Not CEA: national
# ETS allowances are domestic compliance units of an unlinked system, not transferable toward
# another country's target. Not EUR: energy-use rights count tonnes of coal, not emissions.
REGISTRY_HOST_TARGET_MECHANISMS = env.list(
    "REGISTRY_HOST_TARGET_MECHANISMS", default=["CCER", "VCU", "VER", "PHCER"]
)
# R14: retiring such units in an account of another country before their corresponding
# adjustment is completed is refused ("reject") or only recorded for auditors ("flag").
REGISTRY_R14_RETIREMENT_EFFECT = env.str("REGISTRY_R14_RETIREMENT_EFFECT", default="reject")
# R11: retiring credits for an event later than one year after it ended is refused ("reject")
# or only recorded for auditors ("flag").
REGISTRY_R11_LATE_CANCELLATION_EFFECT = env.str(
    "REGISTRY_R11_LATE_CANCELLATION_EFFECT", default="reject"
)
for _name, _effect in (
    ("REGISTRY_R14_RETIREMENT_EFFECT", REGISTRY_R14_RETIREMENT_EFFECT),
    ("REGISTRY_R11_LATE_CANCELLATION_EFFECT", REGISTRY_R11_LATE_CANCELLATION_EFFECT),
):
    if _effect not in {"reject", "flag"}:
        raise ImproperlyConfigured(f"{_name} must be 'reject' or 'flag'")
del _name, _effect
# Ceiling on one production record's quantity, whatever the unit (absurd-input guard).
REGISTRY_MAX_RECORD_QUANTITY = env.int("REGISTRY_MAX_RECORD_QUANTITY", default=10**10)
# Likely twins of a project (same technology; within this distance, or same province with a
# name at least this similar and capacities within this fraction of the larger one): they wait
# for an administrator's reasoned approval and are listed by the report.
REGISTRY_TWIN_DISTANCE_KM = env.float("REGISTRY_TWIN_DISTANCE_KM", default=1.0)
REGISTRY_TWIN_NAME_SIMILARITY = env.float("REGISTRY_TWIN_NAME_SIMILARITY", default=0.6)
REGISTRY_TWIN_CAPACITY_TOLERANCE = env.float("REGISTRY_TWIN_CAPACITY_TOLERANCE", default=0.10)
# Rule R15 (output already certified in another registry): mechanisms for which an overlapping
# external issuance only flags the issuance (rule.flagged in the ledger) instead of refusing it,
# e.g. "VCU,VER". Empty: R15 refuses for every mechanism.
REGISTRY_EXTERNAL_OVERLAP_FLAG_ONLY = env.list("REGISTRY_EXTERNAL_OVERLAP_FLAG_ONLY", default=[])
# How this registry names itself in the source_registry column of its exports (docs/interop.md),
# and whether GET /api/v1/exports/issuances/ answers without authentication (issuance records are
# public in most registries; the export holds no account or holder).
REGISTRY_INTEROP_SOURCE = env.str("REGISTRY_INTEROP_SOURCE", default="CN-ATTRIBUTE-REGISTRY")
REGISTRY_INTEROP_PUBLIC_EXPORT = env.bool("REGISTRY_INTEROP_PUBLIC_EXPORT", default=True)
# Uniqueness reports: one queued or running with no progress for this many minutes (its task
# lost with a restarted broker, or retries exhausted during a database outage) is sent to the
# worker again by a periodic task. A report still running elsewhere is not run twice: the
# runner holds a session advisory lock per report.
REGISTRY_REPORT_STALLED_MINUTES = env.int("REGISTRY_REPORT_STALLED_MINUTES", default=15)
# Fault injection for tests only: the report runner sleeps this many seconds between phases, so
# that a test can kill a worker in the middle of a report. Always 0 in real use.
REGISTRY_REPORT_PHASE_DELAY_SECONDS = env.float("REGISTRY_REPORT_PHASE_DELAY_SECONDS", default=0)
# Absolute address of this registry's public pages (scheme and host, e.g.
# "https://registry.example.org"), printed and encoded as a QR code on retirement certificates so
# that a PDF verifies the same wherever it was downloaded. Empty: the address the request came in
# on (fine behind one host name; set it when a proxy or several host names front the registry).
REGISTRY_PUBLIC_BASE_URL = env.str("REGISTRY_PUBLIC_BASE_URL", default="").rstrip("/")
# Largest import file accepted (bytes) and most rows in one import batch.
REGISTRY_IMPORT_MAX_BYTES = env.int("REGISTRY_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
REGISTRY_IMPORT_MAX_ROWS = env.int("REGISTRY_IMPORT_MAX_ROWS", default=200_000)

# Admin import and export (django-import-export): every import runs in one transaction, previewed
# as a dry run first; what an import writes goes through the services (registry/imports.py).
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
# Rows fetched per round trip while exporting (the queryset is iterated, never loaded whole).
IMPORT_EXPORT_CHUNK_SIZE = 2000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
