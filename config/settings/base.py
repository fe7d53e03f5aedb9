"""Settings shared by every environment, read from the environment.

With no variable set, Accord runs on SQLite under var/ with Celery tasks executed in-process.
With DATABASE_URL and REDIS_URL it uses PostgreSQL and a real Celery worker on Redis.
"""

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("ACCORD_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Good enough on a laptop; production refuses to start with it (config/settings/production.py).
DEVELOPMENT_SECRET_KEY = "accord-insecure-development-key-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "config.apps.AccordAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "projects",
    "labeling",
    "agreement",
    "exports",
    "overview",
]

MIDDLEWARE = [
    # First, so that its deadline covers everything else (core/deadline.py).
    "core.deadline.RequestDeadlineMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.api.middleware.SingleValuedQueryMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'accord.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        # Off by default, as in Django: a check is one more round trip on every request. After
        # a database restart each process's first request fails, and the connection is
        # replaced; the labeling page retries on its own. Turn it on to spare API clients that.
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE makes every transaction take
    # the write lock at BEGIN, which serializes claims instead of failing them with "locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
if IS_POSTGRES:
    # The hot path's statements (core/sql.py) are prepared on a connection after they have
    # run this many times: it halves the database's CPU per labeled item. Django's own queries
    # bind on the client and are never prepared. Behind a pooler that cannot keep prepared
    # statements (PgBouncer before 1.21 in transaction mode), set it to 0: off.
    threshold = int(os.environ.get("ACCORD_PG_PREPARE_THRESHOLD", "5"))
    pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    pg_options["prepare_threshold"] = threshold or None
    # PostgreSQL's own plan caching by default: a prepared statement gets a generic plan after
    # five runs when that plan costs about what the custom ones did, and the planning (two
    # thirds of the database's time per labeled item on the hot path) is saved. Generic plans
    # rely on autovacuum: with it off, dead rows pile up in the assignment indexes and every
    # statement slows down within minutes (bench/RESULTS.md, 2026-11-23). force_custom_plan
    # plans each run anew.
    plan_cache_mode = os.environ.get("ACCORD_PG_PLAN_CACHE_MODE", "")
    if plan_cache_mode not in ("", "auto", "force_custom_plan", "force_generic_plan"):
        raise ImproperlyConfigured(
            f"ACCORD_PG_PLAN_CACHE_MODE={plan_cache_mode!r}: expected auto, force_custom_plan "
            "or force_generic_plan (or unset: the server's own setting)."
        )
    if plan_cache_mode:
        pg_options["options"] = " ".join(
            filter(None, [pg_options.get("options", ""), f"-c plan_cache_mode={plan_cache_mode}"])
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def s3_storage(bucket: str) -> dict[str, Any]:
    """The default storage in an S3-compatible bucket (django-storages, the `s3` extra): dataset
    versions' files, images and their thumbnails, and import uploads. Static files stay local.

    Keys: ACCORD_S3_ACCESS_KEY_ID and ACCORD_S3_SECRET_ACCESS_KEY, or when unset boto3's own
    chain (AWS_ACCESS_KEY_ID..., ~/.aws, an instance or task role). file_overwrite stays on:
    every name Accord writes is unique by construction (a version's files under its own id,
    images under their sha256, an upload in a folder of its own), so a second write of a name
    is a retry of the same version or the same bytes; without it, each save would first ask S3
    whether the name is taken (one request more), and could still race another writer, since
    S3 has no create-if-absent that every S3-compatible server honours."""
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "endpoint_url": os.environ.get("ACCORD_S3_ENDPOINT_URL") or None,
        "region_name": os.environ.get("ACCORD_S3_REGION") or None,
        "location": os.environ.get("ACCORD_S3_PREFIX", "").strip("/"),
        # "path" for MinIO and other servers without a DNS name per bucket; default: boto3's.
        "addressing_style": os.environ.get("ACCORD_S3_ADDRESSING_STYLE") or None,
        # Objects inherit the bucket's policy; nothing is public, and downloads go through Accord.
        "default_acl": None,
        "file_overwrite": True,
        # A file opened through the storage (an import's upload) spools to disk past this.
        "max_memory_size": 16 * 1024 * 1024,
    }
    access_key = os.environ.get("ACCORD_S3_ACCESS_KEY_ID")
    if access_key:
        options["access_key"] = access_key
        options["secret_key"] = os.environ.get("ACCORD_S3_SECRET_ACCESS_KEY", "")
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


if os.environ.get("ACCORD_S3_BUCKET"):
    STORAGES["default"] = s3_storage(os.environ["ACCORD_S3_BUCKET"])
# Uploads above this go to a temporary file rather than memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# Celery: long work never runs in a web request. With REDIS_URL set, tasks go through Redis to
# Celery workers. Without it (the embedded default) they go through files under var/celery/
# (Kombu's filesystem transport) to the worker that `make run` starts beside the web server:
# nothing else to install or start.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if not REDIS_URL:
    CELERY_QUEUE_DIR = VAR_DIR / "celery"
    for folder in ("queue", "processed", "control"):
        (CELERY_QUEUE_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        # Where the transport keeps its exchange bindings (by default ./control, in the repo).
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.5,
    }
    # Beat keeps its schedule's state in a file of its own, under var/ as well.
    CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_QUEUE_DIR / "beat-schedule")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("ACCORD_CELERY_QUEUE", "accord")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    "tidy-expired-leases": {"task": "labeling.tasks.leases_tidy", "schedule": 300.0},
    # A webhook delivery whose task was lost (a broker down when it was queued) is sent anyway.
    "sweep-webhook-deliveries": {
        "task": "exports.tasks.webhook_deliveries_sweep",
        "schedule": 300.0,
    },
}

# Shared by every web process and the worker: Redis, or files under var/cache/ on the embedded
# default (the labeling page's remaining count, throttles and login protection need one cache
# for all processes, and a database cache would take SQLite's write lock).
CACHES = {
    "default": (
        {"BACKEND": "core.cache.ReusedClientRedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    ),
    # Rate limits and sign-in failures, apart so that tests can clear them alone: in Redis, or in
    # files under var/ as well.
    "throttle": (
        {"BACKEND": "core.cache.ReusedClientRedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "throttle-cache"),
        }
    ),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "projects.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.ErrorDocumentingAutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.json_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON bodies only (up to DATA_UPLOAD_MAX_MEMORY_SIZE); file uploads set their own parser.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_METADATA_CLASS": "core.api.metadata.PlainMetadata",
    # core/api/throttles.py. Claim and submit have their own rates instead of `user`.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api.throttles.UserThrottle",
        "core.api.throttles.AnonThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("ACCORD_THROTTLE_USER", "50/s"),
        "anon": os.environ.get("ACCORD_THROTTLE_ANON", "60/min"),
        "claim": os.environ.get("ACCORD_THROTTLE_CLAIM", "30/s"),
        "submit": os.environ.get("ACCORD_THROTTLE_SUBMIT", "30/s"),
        "failed_token": os.environ.get("ACCORD_THROTTLE_FAILED_TOKEN", "30/min"),
    },
    # Client addresses (anonymous and failed-token limits, sign-in lockout) are REMOTE_ADDR
    # unless this many trusted proxies in front add X-Forwarded-For.
    "NUM_PROXIES": int(os.environ.get("ACCORD_NUM_PROXIES", "0")),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Accord API",
    # Only what the API does today; what comes next is named as planned.
    "DESCRIPTION": (
        "Projects, their members and label schemas, items and their imports, API tokens, and "
        "labeling: claim, submit, skip, renew, history and progress; agreement: the conflict "
        "queue and a lead's decisions on it, the project's annotations, each item's agreement, "
        "the project's figures, the raters' scorecards and the full recompute; dataset versions "
        "for pipelines: builds, manifests, file downloads (ETag, ranges) and the diff between "
        "two versions.\n\n"
        "Planned, not in this API yet: weak labels from process feedback. A project's "
        "`weak_label*` fields are kept for those and change nothing today."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema and its docs page are public and the same for everyone: they read no credentials.
    "SERVE_AUTHENTICATION": [],
    # One name for a choice set used by several fields.
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "projects.models.Role",
        "ItemStatusEnum": "projects.models.ItemStatus",
        "ConflictStatusEnum": "agreement.models.ConflictStatus",
    },
}

# A request still running after this many seconds is stopped and answered 503 (JSON under
# /api/): keep it below gunicorn's --timeout (120 s in the Makefile and the Dockerfile), which
# kills the worker and leaves the client with no answer at all. 0 turns it off.
ACCORD_REQUEST_DEADLINE_SECONDS = float(os.environ.get("ACCORD_REQUEST_DEADLINE_SECONDS", "100"))
# Sign-in lockout (core/lockout.py).
ACCORD_LOGIN_FAILURE_LIMIT = int(os.environ.get("ACCORD_LOGIN_FAILURE_LIMIT", "30"))
ACCORD_LOGIN_LOCKOUT_SECONDS = int(os.environ.get("ACCORD_LOGIN_LOCKOUT_SECONDS", "900"))
CSRF_FAILURE_VIEW = "core.api.errors.csrf_failure"

# Import limits. A file over these is rejected with a message naming the limit.
ACCORD_IMPORT_MAX_BYTES = int(os.environ.get("ACCORD_IMPORT_MAX_BYTES", 512 * 1024 * 1024))
ACCORD_IMAGE_MAX_BYTES = int(os.environ.get("ACCORD_IMAGE_MAX_BYTES", 20 * 1024 * 1024))
ACCORD_IMAGE_MAX_PIXELS = int(os.environ.get("ACCORD_IMAGE_MAX_PIXELS", 50_000_000))
ACCORD_IMAGE_MAX_SIDE = int(os.environ.get("ACCORD_IMAGE_MAX_SIDE", 20_000))
ACCORD_THUMBNAIL_SIZE = (256, 256)
ACCORD_IMPORT_ERROR_LIMIT = 50
# A running job with no progress for this long (or a pending one that no worker took) lost its
# worker: the UI and the API say so, and it may be retried.
ACCORD_JOB_STALLED_SECONDS = int(os.environ.get("ACCORD_JOB_STALLED_SECONDS", "600"))
# The labeling page asks for the project's remaining count on every item; cache it this long.
ACCORD_PROGRESS_CACHE_SECONDS = int(os.environ.get("ACCORD_PROGRESS_CACHE_SECONDS", "30"))

# Webhooks (exports/services/webhooks.py). The address Accord is reached at from outside, for
# the absolute links in what webhooks send (a version's manifest and files).
ACCORD_PUBLIC_URL = os.environ.get("ACCORD_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Seconds one attempt may take to connect and to answer; a receiver should answer at once and
# do its work afterwards.
ACCORD_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("ACCORD_WEBHOOK_TIMEOUT_SECONDS", "10"))
# Seconds before each retry of a failed attempt (10 s, 1 min, 5 min, 30 min, 2 h, 6 h): seven
# attempts over about 8.6 hours, then the delivery has failed. Each wait is moved by up to
# ACCORD_WEBHOOK_RETRY_JITTER of itself either way, so that receivers that failed together are
# not all retried at the same instant.
ACCORD_WEBHOOK_RETRY_DELAYS = tuple(
    float(seconds)
    for seconds in os.environ.get("ACCORD_WEBHOOK_RETRY_DELAYS", "10,60,300,1800,7200,21600").split(
        ","
    )
    if seconds.strip()
)
ACCORD_WEBHOOK_RETRY_JITTER = float(os.environ.get("ACCORD_WEBHOOK_RETRY_JITTER", "0.1"))
if REDIS_URL:
    # A retry waits in a worker as a task with a countdown. Redis hands a task that is not
    # acknowledged within its visibility timeout (1 h by default) to a worker again, so a wait
    # longer than that would be run twice or more: the timeout covers the longest wait.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(max((3600.0, *ACCORD_WEBHOOK_RETRY_DELAYS)) * 1.5)
    }

# Dataset versions (exports/services/build.py): rows read and written per batch (each batch is
# one statement and one Parquet row group; a build's memory is about that of one batch), and
# where a build writes its files before they go into storage whole.
ACCORD_DATASET_BATCH_ROWS = int(os.environ.get("ACCORD_DATASET_BATCH_ROWS", "20000"))
# A split whose label distribution moved farther than this (total variation distance) from the
# parent's same split, or from the whole version, is warned about in the validation report.
ACCORD_DATASET_DRIFT_THRESHOLD = float(os.environ.get("ACCORD_DATASET_DRIFT_THRESHOLD", "0.1"))
ACCORD_DATASET_BUILD_DIR = Path(
    os.environ.get("ACCORD_DATASET_BUILD_DIR", VAR_DIR / "tmp" / "datasets")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
