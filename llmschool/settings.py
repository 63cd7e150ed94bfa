"""llmschool settings: one module, driven by environment variables.

This is the one place that reads the environment: every variable is read here, at import,
through the checked helpers of llmschool/env.py (each with its default and meaning, from
which README's "Configuration" table is generated), so a bad value stops `manage.py check`,
the web server and every worker at start with a message naming the variable. Every variable
has a safe development default so that `make run` works on a fresh machine; production sets
DEBUG=false and the rest.
"""
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from llmschool.env import envbool, envfloat, envint, envjson, envlist, envpath, envstr, listed

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = envpath("VAR_DIR", BASE_DIR / "var", "where the default database, Redis data, logs and files live",
                  shown="`./var`")

DEBUG = envbool("DEBUG", True, "development mode; set `false` in production")
SECRET_KEY = envstr("SECRET_KEY", "", "required when `DEBUG` is off", shown="dev key")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"],
                        "comma-separated host names")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [], "comma-separated, e.g. `https://llmschool.example.com`")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_rq",
    "axes",
    "csp",
    "llmschool.accounts",
    "courses",
    "quizzes",
    "training",
    "training.lab",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "llmschool.accounts.middleware.PreferredLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so that it sees the final outcome of a login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "llmschool.urls"
WSGI_APPLICATION = "llmschool.wsgi.application"

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
                "django.template.context_processors.i18n",
                "llmschool.context_processors.site",
            ],
        },
    },
]

# Database --------------------------------------------------------------------
# SQLite by default: WAL lets the web process read while a worker writes, and the
# busy timeout makes a writer wait for the lock instead of failing at once.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
                      "e.g. `postgres://user:pass@db:5432/llmschool`",
                      shown="`sqlite:///var/db.sqlite3` (WAL mode, busy timeout)")
DB_CONN_MAX_AGE = envint("DB_CONN_MAX_AGE", 0, "seconds a database connection is kept (0: one per request)",
                         minimum=0)
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE)}
except (ValueError, KeyError) as error:  # an unknown scheme is a KeyError in some versions
    raise ImproperlyConfigured(f"DATABASE_URL must be a database URL such as "
                               f"postgres://user:pass@host:5432/name, not {DATABASE_URL!r} ({error})") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not ":memory:", so that worker processes started by tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"

# Login throttling: lock out a (username, IP) pair, never a whole IP, so one student
# guessing passwords cannot lock a classroom that shares a NAT address.
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5, "failed log-ins per (username, IP) before a lock-out",
                            minimum=1)
AXES_COOLOFF_TIME = envint("LOGIN_COOLOFF_MINUTES", 15, "how long a log-in lock-out lasts (minutes)",
                           minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = envint("PROXY_COUNT", 0, "reverse proxies in front (for the client IP of the throttle)",
                                 minimum=0) or None
AXES_VERBOSE = False

# Sign-up: accounts created from one client address (the throttle's address above, proxy-aware)
# within a window; a classroom behind one NAT address signs up together, hence the room.
SIGNUP_LIMIT_PER_ADDRESS = envint("SIGNUP_LIMIT_PER_ADDRESS", 30,
                                  "accounts one client address may create within `SIGNUP_WINDOW_MINUTES` "
                                  "(0: no limit)", minimum=0)
SIGNUP_WINDOW_MINUTES = envint("SIGNUP_WINDOW_MINUTES", 60, "window of the sign-up limit (minutes)", minimum=1)
REQUIRE_VERIFIED_EMAIL = envbool("REQUIRE_VERIFIED_EMAIL", False,
                                 "a student must open the link e-mailed at sign-up before queuing a run "
                                 "(needs working e-mail: set `EMAIL_HOST`)")

# Internationalisation ---------------------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = envstr("TIME_ZONE", "Asia/Tokyo", "time zone of dates shown and of the logs")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE must be a time zone name such as Asia/Tokyo, not {TIME_ZONE!r}") from None
USE_I18N = True
USE_TZ = True

# Static and media files ---------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = envpath("STATIC_ROOT", VAR_DIR / "staticfiles", "where `collectstatic` puts static files",
                      shown="`var/staticfiles`")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# In development whitenoise serves straight from the source folders (no collectstatic).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_URL = "/media/"
MEDIA_ROOT = envpath("MEDIA_ROOT", VAR_DIR / "media",
                     "uploaded datasets (stored under generated names); never served directly",
                     shown="`var/media`")
# None: MEDIA_ROOT/runs, derived when used (training/conf.py), so that a test's MEDIA_ROOT carries it.
TRAINING_RUNS_DIR = envpath("TRAINING_RUNS_DIR", None, "run checkpoints, exported models and archives",
                            shown="`MEDIA_ROOT/runs`")
MODELS_DIR = envpath("MODELS_DIR", VAR_DIR / "models", "cached base models (`download_base_model`)",
                     shown="`var/models`")

# Uploads: Django puts no cap on file size, so the dataset form checks it; these
# only keep request bodies other than files small.
DATASET_MAX_BYTES = envint("DATASET_MAX_BYTES", 10 * 1024 * 1024,
                           "upload size cap (also the cap on the text unpacked from a .zip; "
                           "the stored UTF-8 file may be up to twice this)", minimum=1)
# The dataset check runs as a job on the `default` queue; these caps keep one file's check
# (and its training) within seconds and a few hundred MB.
DATASET_MAX_LINES = envint("DATASET_MAX_LINES", 500_000, "lines a dataset may have (a .jsonl/.csv record counts "
                           "its lines)", minimum=1)
DATASET_MAX_LINE_CHARS = envint("DATASET_MAX_LINE_CHARS", 100_000, "characters one line of a dataset may have",
                                minimum=100)
DATASET_MAX_JSON_DEPTH = envint("DATASET_MAX_JSON_DEPTH", 20, "how deep arrays and objects may nest in one .jsonl "
                                "line", minimum=2, maximum=500)
DATASET_CHECK_TIMEOUT = envint("DATASET_CHECK_TIMEOUT", 600, "time limit of one dataset check job (seconds)",
                               minimum=30)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FILES = 5

# Redis and RQ ---------------------------------------------------------------
# Unset REDIS_URL means "the embedded redis-server that `make run` starts on a unix socket".
REDIS_URL = envstr("REDIS_URL", f"unix://{VAR_DIR / 'redis' / 'redis.sock'}?db=0",
                   "e.g. `redis://:password@redis:6379/0`", prefixes=("redis://", "rediss://", "unix://"),
                   shown="embedded Redis on `var/redis/redis.sock`")
TRAINING_JOB_TIMEOUT_MAX = envint("TRAINING_JOB_TIMEOUT_MAX", 6 * 3600,
                                  "upper bound of a training job's timeout, derived from its token budget (seconds)",
                                  minimum=60)
TRAINING_JOB_TIMEOUT_MIN = envint("TRAINING_JOB_TIMEOUT_MIN", 600,
                                  "lower bound of a training job's timeout (seconds)", minimum=1)
if TRAINING_JOB_TIMEOUT_MIN > TRAINING_JOB_TIMEOUT_MAX:
    raise ImproperlyConfigured(f"TRAINING_JOB_TIMEOUT_MIN ({TRAINING_JOB_TIMEOUT_MIN}) must not exceed "
                               f"TRAINING_JOB_TIMEOUT_MAX ({TRAINING_JOB_TIMEOUT_MAX})")
RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300},
    "training": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": TRAINING_JOB_TIMEOUT_MAX},
    "inference": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 120},
    # requests of students over their fair share: the inference workers serve it after "inference"
    "inference-bulk": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 120},
}
RQ = {"COMMIT_MODE": "on_db_commit"}
RQ_SHOW_ADMIN_LINK = True

# Training: quotas, bounds and the worker's rhythm. Read them through training/conf.py.
TRAINING_MAX_ACTIVE_RUNS_PER_USER = envint("TRAINING_MAX_ACTIVE_RUNS_PER_USER", 1,
                                           "quota of queued or running runs per student", minimum=1)
TRAINING_MAX_QUEUED_RUNS = envint("TRAINING_MAX_QUEUED_RUNS", 50, "cap on the whole queue", minimum=0)
TRAINING_MAX_QUEUED_RUNS_PER_ADDRESS = envint(
    "TRAINING_MAX_QUEUED_RUNS_PER_ADDRESS", 20,
    "queued runs of accounts signed up from one client address (so one address cannot fill the queue)", minimum=1)
TRAINING_MAX_TOKEN_BUDGET = envint("TRAINING_MAX_TOKEN_BUDGET", 50_000_000, "tokens × epochs one run may process",
                                   minimum=1)
TRAINING_HEARTBEAT_STALE_SECONDS = envfloat("TRAINING_HEARTBEAT_STALE_SECONDS", 90.0,
                                            "when the reconciler considers a running run's worker lost "
                                            "(a job beats every quarter of it, 0.5 to 10 s)", minimum=1)
TRAINING_MAX_ATTEMPTS = envint("TRAINING_MAX_ATTEMPTS", 3, "resumptions before a run fails with \"worker lost\"",
                               minimum=1)
TRAINING_RECONCILE_INTERVAL_SECONDS = envfloat("TRAINING_RECONCILE_INTERVAL_SECONDS", 60.0,
                                               "how often each training worker runs the reconciler", minimum=1)
TRAINING_CANCEL_GRACE_SECONDS = envfloat("TRAINING_CANCEL_GRACE_SECONDS", 15.0,
                                         "after a cancel, how long the engine may take before its process is killed",
                                         minimum=0)
TRAINING_PROGRESS_WRITE_SECONDS = envfloat("TRAINING_PROGRESS_WRITE_SECONDS", 1.0,
                                           "least time between two progress writes of a job "
                                           "(evaluations and checkpoints always write)", minimum=0)
TRAINING_LOG_LINES = envint("TRAINING_LOG_LINES", 200, "log lines kept per run", minimum=1)
# Disk: what final runs keep and how much a student may store (training/storage.py).
TRAINING_STORAGE_QUOTA_MB = envint("TRAINING_STORAGE_QUOTA_MB", 5120,
                                   "disk quota per student, datasets and runs together (MiB; a GPT-2 model keeps "
                                   "about 1 GiB); instructors and staff have none; 0: no quota", minimum=0)
TRAINING_RESUME_KEEP_HOURS = envfloat("TRAINING_RESUME_KEEP_HOURS", 24.0,
                                      "how long a failed or cancelled run keeps its newest checkpoint so that a "
                                      "requeue resumes from it (hours; it counts towards the quota)", minimum=0)
TRAINING_STORAGE_SWEEP_INTERVAL_SECONDS = envfloat("TRAINING_STORAGE_SWEEP_INTERVAL_SECONDS", 3600.0,
                                                   "how often the reconciler removes files no run or dataset needs "
                                                   "(`manage.py sweep_storage` does it on demand)", minimum=1)
TRAINING_PLAYGROUND_MAX_NEW_TOKENS = envint("TRAINING_PLAYGROUND_MAX_NEW_TOKENS", 200,
                                            "cap of the playground's generated length (within the engine's own cap)",
                                            minimum=1)
TRAINING_EXTRA_HYPERPARAMETERS = envjson("TRAINING_EXTRA_HYPERPARAMETERS", {},
                                         "JSON object added to every new run's hyperparameters, e.g. "
                                         "`{\"num_threads\": 2}`; bounded like any other value")
TRAINING_CALIBRATE_AT_START = envbool("TRAINING_CALIBRATE_AT_START", True,
                                      "a starting training worker measures the speed of bases that have no figure yet")
# Archive downloads: the web process checks who may download, then hands the file to the proxy
# (its worker is free at once; the proxy serves byte ranges). Unset: Django streams the file itself.
DOWNLOAD_ACCEL = envstr("DOWNLOAD_ACCEL", "", "`nginx` (X-Accel-Redirect) or `apache` (X-Sendfile, mod_xsendfile): "
                        "the proxy sends archives; unset: Django streams them", choices=("nginx", "apache"))
DOWNLOAD_ACCEL_PREFIX = envstr("DOWNLOAD_ACCEL_PREFIX", "/protected-runs/",
                               "with `nginx`: the `internal` location whose `alias` is the runs directory",
                               prefixes=("/",))
# Inference (lab, playground): never in the web process. Requests go to the RQ queue
# "inference", served by long-lived inference workers (training/worker.py InferenceWorker).
INFERENCE_MAX_LOADED_MODELS = envint("INFERENCE_MAX_LOADED_MODELS", 3,
                                     "models each inference worker keeps loaded (least recently used goes first)",
                                     minimum=1)
INFERENCE_TORCH_THREADS = envint("INFERENCE_TORCH_THREADS", 1,
                                 "torch threads of each inference worker (more threads fight the other workers for "
                                 "cores; 0: torch's default)", minimum=0)
INFERENCE_WAIT_SECONDS = envfloat("INFERENCE_WAIT_SECONDS", 20.0,
                                  "how long a lab or playground request waits for an inference worker before it "
                                  "answers \"busy, try again\"", minimum=0.1, maximum=300)
INFERENCE_RATE_PER_MINUTE = envint("INFERENCE_RATE_PER_MINUTE", 60,
                                   "lab and playground requests one student may make per minute (then 429)", minimum=1)
INFERENCE_WAITING_PER_PROCESS = envint("INFERENCE_WAITING_PER_PROCESS", 2,
                                      "threads of one web process that may wait for an inference answer at once "
                                      "(more are answered \"busy\" at once, so the others serve pages; keep it "
                                      "below gunicorn's --threads)", minimum=1)
INFERENCE_MAX_QUEUED = envint("INFERENCE_MAX_QUEUED", 8,
                              "requests waiting in the inference queue beyond which new ones are answered \"busy\" "
                              "at once (raise it with the number of inference workers)", minimum=1)
INFERENCE_FAIR_SHARE_PER_MINUTE = envint(
    "INFERENCE_FAIR_SHARE_PER_MINUTE", 20,
    "lab and playground requests a minute (answered or not) beyond which a student's further requests wait "
    "behind the others' (in a queue of their own, served after the others, with at most half of a web "
    "process's waiting threads)", minimum=1)
INFERENCE_JOB_TIMEOUT = envint("INFERENCE_JOB_TIMEOUT", 120,
                               "seconds an inference worker may spend on one request", minimum=5)
# Training, inference and dataset checks run at a lower CPU priority than the web processes,
# so that on a machine that hosts both, a page never waits behind a model (0: same priority).
WORKER_NICENESS = envint("WORKER_NICENESS", 10,
                         "nice value of the training and inference workers and of dataset-check jobs (0-19; "
                         "higher yields the CPU to the web server sooner)", minimum=0, maximum=19)
DEMO_MODEL_SEED = envbool("DEMO_MODEL_SEED", True,
                          "`bootstrap` queues, once, a ~1-minute from-scratch run on the sample corpora (pirate log "
                          "+ haiku diary) that becomes the site's demo model (off for `make test`)")

# E-mail: console in development, SMTP when EMAIL_HOST is set. All are read (and checked)
# even without EMAIL_HOST, so that a typo fails at start rather than when SMTP is turned on.
EMAIL_HOST = envstr("EMAIL_HOST", "", "SMTP server for password resets; unset: e-mails go to the console")
EMAIL_PORT = envint("EMAIL_PORT", 587, "SMTP port", minimum=1, maximum=65535)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "", "SMTP user")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "", "SMTP password")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True, "STARTTLS to the SMTP server")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "llmschool <noreply@localhost>", "sender of the site's e-mails")

# Security ---------------------------------------------------------------------
SECURE_HTTPS = envbool("SECURE_HTTPS", not DEBUG, "secure cookies, HSTS, SSL redirect",
                       shown="`true` when `DEBUG` is off")
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True, "with `SECURE_HTTPS`, redirect plain HTTP to HTTPS") \
    and SECURE_HTTPS
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0,
                             "HSTS max-age (seconds)", minimum=0,
                             shown="`31536000` with `SECURE_HTTPS`, else `0`")
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
BEHIND_PROXY = envbool("BEHIND_PROXY", False, "trust `X-Forwarded-Proto` from the proxy")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content security policy: everything comes from this site (no CDN); scripts only from
# static files. Inline styles are allowed for server-rendered SVG charts and widths.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO", "level of the log on the console",
                                                      choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))},
    "loggers": {"axes": {"level": "WARNING"}},
}

# Read by others, listed so that README's table names every variable: huggingface_hub reads
# its own (before any settings exist), the launcher (scripts/run.py) runs before Django, and
# the engine never imports Django.
listed("DJANGO_SETTINGS_MODULE", "`llmschool.settings`", "the suite uses `llmschool.test_settings`")
listed("HF_HUB_OFFLINE", "`1` (set by the Makefile)",
       "workers never download during a run (read by huggingface_hub; `download_base_model` turns it off for itself)")
listed("HF_HOME", "`~/.cache/huggingface`",
       "Hugging Face's own cache (read by huggingface_hub); base models live in `MODELS_DIR`")
listed("HOST", "`127.0.0.1`", "address `make run` serves on (read by scripts/run.py)")
listed("PORT", "`8000`", "port `make run` serves on (read by scripts/run.py)")
