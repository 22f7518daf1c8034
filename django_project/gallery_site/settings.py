"""Settings for the course's AI art gallery: a local teaching site that can also be deployed.

Everything a deployment changes comes from the environment, with development defaults, so
``python manage.py runserver`` works with nothing set (the README's "Deployment" section lists
every variable):

- ``DJANGO_DEBUG`` (default on), ``DJANGO_SECRET_KEY`` (required when DEBUG is off),
  ``DJANGO_ALLOWED_HOSTS``, ``DJANGO_CSRF_TRUSTED_ORIGINS`` (comma-separated);
- ``DATABASE_URL`` (e.g. ``postgres://user:password@host:5432/name``), else a SQLite file;
  ``GALLERY_DB`` names that SQLite file and wins over ``DATABASE_URL``, because notebooks and
  tests use it to give each run a private database whatever the surrounding environment;
- ``GALLERY_MEDIA_ROOT`` (generated images) and, through ``course_lib``, ``COURSE_DATA_DIR``;
- with DEBUG off the HTTPS protections are on; ``DJANGO_SECURE_SSL_REDIRECT``,
  ``DJANGO_SESSION_COOKIE_SECURE``, ``DJANGO_CSRF_COOKIE_SECURE`` and the HSTS variables turn
  them off one by one for a plain-HTTP run on localhost (the benchmark's gunicorn).

A bad value stops the process at start-up with ImproperlyConfigured naming the variable, rather
than running with a guess.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    """A yes/no variable; anything but true/false/1/0/yes/no/on/off (any case) is an error.

    Strict on purpose: ``DJANGO_DEBUG=flase`` must not quietly mean "on" (or "off").
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a yes/no value; use one of true, false, 1, 0, yes, no, on, off"
    )


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole-number variable, at least ``minimum``."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated variable; blanks around items are ignored, an empty list is an error."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not items:
        raise ImproperlyConfigured(f"{name} is set but lists nothing; unset it or name one")
    return items


def _allowed_hosts() -> list[str]:
    hosts = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
    for host in hosts:
        if "://" in host or "/" in host or " " in host:
            raise ImproperlyConfigured(
                f"DJANGO_ALLOWED_HOSTS: {host!r} is not a host name; write example.org, "
                "not https://example.org/"
            )
    return hosts


def _trusted_origins() -> list[str]:
    origins = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
    for origin in origins:
        if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
            raise ImproperlyConfigured(
                f"DJANGO_CSRF_TRUSTED_ORIGINS: {origin!r} is not an origin; write "
                "https://example.org (scheme and host, no path)"
            )
    return origins


#: SQLite for several processes (web workers + task worker): wait for a lock instead of failing,
#: take the write lock at BEGIN (no deadlocking lock upgrades), and use the write-ahead log with
#: synchronous=NORMAL, which makes a commit a memory write instead of an fsync (about 17 ms on a
#: laptop disk) while staying crash-safe.
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def _database() -> dict:
    """GALLERY_DB (a SQLite file) first, then DATABASE_URL, then the project's db.sqlite3."""
    sqlite_file = os.environ.get("GALLERY_DB")
    url = os.environ.get("DATABASE_URL", "").strip()
    if url and not sqlite_file:
        try:
            config = dj_database_url.parse(
                url,
                conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 0),
                conn_health_checks=True,
            )
        except ValueError as error:  # unknown scheme, bad port, ...
            raise ImproperlyConfigured(f"DATABASE_URL cannot be used: {error}") from None
        if not config.get("NAME"):
            raise ImproperlyConfigured("DATABASE_URL names no database (nothing after the host/)")
        if config["ENGINE"] == "django.db.backends.sqlite3":
            config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        return dict(config)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": sqlite_file or str(BASE_DIR / "db.sqlite3"),
        "OPTIONS": dict(SQLITE_OPTIONS),
    }


DEBUG = env_bool("DJANGO_DEBUG", True)

# Only good for a laptop: with DEBUG off the site refuses to start with it.
DEVELOPMENT_SECRET_KEY = "course-gallery-local-only-not-a-secret"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip() or DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a long random value when DJANGO_DEBUG is off; make one "
        "with: python -c 'from django.core.management.utils import get_random_secret_key; "
        "print(get_random_secret_key())'"
    )

ALLOWED_HOSTS = _allowed_hosts()
CSRF_TRUSTED_ORIGINS = _trusted_origins()

# HTTPS protections: on whenever DEBUG is off, each one switchable for a plain-HTTP local run.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
# Behind a proxy that ends TLS (nginx, Caddy) and sets X-Forwarded-Proto; never trust the
# header when nothing in front strips a client's own copy.
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "gallery",
    "patterns",
    "styles",
    "workshop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gallery_site.urls"
WSGI_APPLICATION = "gallery_site.wsgi.application"

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

DATABASES = {"default": _database()}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files: our own, Bootstrap from npm (`npm ci` in this folder) and plotly.js from the
# plotly Python package. Nothing comes from a CDN: the course works offline.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("bootstrap", BASE_DIR / "node_modules" / "bootstrap" / "dist"),
    ("plotly", Path(plotly.__file__).parent / "package_data"),
]
WHITENOISE_USE_FINDERS = True  # serve straight from the folders above, no collectstatic needed
# STATIC_ROOT exists only after the optional `collectstatic`; without it whitenoise warns at every
# worker start about a folder it does not need.
warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)

MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("GALLERY_MEDIA_ROOT", BASE_DIR / "media"))

# Uploads: refuse oversized requests before they reach a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Background jobs (the style studio's training): queued in the database and run by
# `python manage.py db_worker`, which `make gallery` starts beside the web server.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# How long the style studio trains one style, in seconds (course_lib.styles.train_style).
STYLE_TRAINING_SECONDS = 45

# Trainings from /models/ (the model workshop) queued or running at once; more is a 429.
WORKSHOP_MAX_ACTIVE_JOBS = env_int("WORKSHOP_MAX_ACTIVE_JOBS", 2, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
