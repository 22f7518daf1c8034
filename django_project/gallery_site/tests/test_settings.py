"""Settings from the environment: strict parsing, production refusals, the database choice.

Each case runs the settings file afresh with ``runpy`` under a controlled environment, so the
settings this pytest process already uses are never touched.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

import gallery_site.settings as site_settings

SETTINGS_FILE = Path(site_settings.__file__)
KEY = "k3y-" + "x7Qp" * 12  # 52 characters, not the development key
PRODUCTION = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": KEY}
VARIABLES = (
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "GALLERY_DB",
    "GALLERY_MEDIA_ROOT",
    "DJANGO_CONN_MAX_AGE",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SESSION_COOKIE_SECURE",
    "DJANGO_CSRF_COOKIE_SECURE",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_SECURE_HSTS_PRELOAD",
    "DJANGO_SECURE_PROXY_SSL_HEADER",
)


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch):
    """Evaluate settings.py with exactly the given variables set (the others unset)."""

    def run(**env: str) -> dict:
        for name in VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))

    return run


# --- development defaults ---------------------------------------------------------------------


def test_nothing_set_gives_the_local_development_site(load):
    s = load()
    assert s["DEBUG"] is True
    assert s["SECRET_KEY"] == s["DEVELOPMENT_SECRET_KEY"]
    assert {"127.0.0.1", "localhost"} <= set(s["ALLOWED_HOSTS"])
    assert s["CSRF_TRUSTED_ORIGINS"] == []
    assert s["SECURE_SSL_REDIRECT"] is False and s["SESSION_COOKIE_SECURE"] is False
    assert s["CSRF_COOKIE_SECURE"] is False and s["SECURE_HSTS_SECONDS"] == 0
    db = s["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(s["BASE_DIR"] / "db.sqlite3")
    assert s["MEDIA_ROOT"] == s["BASE_DIR"] / "media"


# --- DJANGO_DEBUG -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "debug"),
    [("true", True), ("1", True), ("YES", True), (" on ", True)]
    + [("false", False), ("0", False), ("No", False), ("OFF", False)],
)
def test_debug_accepts_the_usual_yes_no_words(load, raw, debug):
    assert load(DJANGO_DEBUG=raw, DJANGO_SECRET_KEY=KEY)["DEBUG"] is debug


@pytest.mark.parametrize("raw", ["", "2", "flase", "debug", "none", "-1"])
def test_debug_refuses_anything_else(load, raw):
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_DEBUG=.* is not a yes/no value"):
        load(DJANGO_DEBUG=raw, DJANGO_SECRET_KEY=KEY)


def test_other_switches_are_as_strict(load):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECURE_SSL_REDIRECT"):
        load(**PRODUCTION, DJANGO_SECURE_SSL_REDIRECT="sometimes")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECURE_HSTS_SECONDS=.*whole number"):
        load(**PRODUCTION, DJANGO_SECURE_HSTS_SECONDS="a year")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECURE_HSTS_SECONDS=.*at least 0"):
        load(**PRODUCTION, DJANGO_SECURE_HSTS_SECONDS="-5")


# --- DJANGO_SECRET_KEY ------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "   ", site_settings.DEVELOPMENT_SECRET_KEY])
def test_production_refuses_to_start_without_a_real_secret_key(load, key):
    env = {"DJANGO_DEBUG": "false"}
    if key is not None:
        env["DJANGO_SECRET_KEY"] = key
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY must be set"):
        load(**env)


def test_production_uses_the_given_secret_key(load):
    assert load(**PRODUCTION)["SECRET_KEY"] == KEY


# --- HTTPS protections ------------------------------------------------------------------------


def test_production_turns_every_https_protection_on(load):
    s = load(**PRODUCTION)
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True
    assert s["SECURE_HSTS_SECONDS"] >= 3600
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True and s["SECURE_HSTS_PRELOAD"] is True
    assert "SECURE_PROXY_SSL_HEADER" not in s  # the header is only trusted when asked for


def test_https_protections_switch_off_one_by_one_for_plain_http(load):
    s = load(
        **PRODUCTION,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SESSION_COOKIE_SECURE="0",
        DJANGO_CSRF_COOKIE_SECURE="no",
        DJANGO_SECURE_HSTS_SECONDS="0",
    )
    assert s["DEBUG"] is False
    assert s["SECURE_SSL_REDIRECT"] is False
    assert s["SESSION_COOKIE_SECURE"] is False and s["CSRF_COOKIE_SECURE"] is False
    assert s["SECURE_HSTS_SECONDS"] == 0


def test_behind_a_tls_proxy_the_forwarded_proto_header_is_trusted(load):
    s = load(**PRODUCTION, DJANGO_SECURE_PROXY_SSL_HEADER="true")
    assert s["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


# --- hosts and origins ------------------------------------------------------------------------


def test_allowed_hosts_are_comma_separated(load):
    s = load(**PRODUCTION, DJANGO_ALLOWED_HOSTS=" example.org,www.example.org ,, .example.net")
    assert s["ALLOWED_HOSTS"] == ["example.org", "www.example.org", ".example.net"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("https://example.org", "not a host name"),
        ("example.org/gallery", "not a host name"),
        (" , ", "lists nothing"),
    ],
)
def test_allowed_hosts_refuse_urls_and_empty_lists(load, raw, message):
    with pytest.raises(ImproperlyConfigured, match=f"DJANGO_ALLOWED_HOSTS.*{message}"):
        load(**PRODUCTION, DJANGO_ALLOWED_HOSTS=raw)


def test_csrf_trusted_origins_need_a_scheme_and_no_path(load):
    s = load(DJANGO_CSRF_TRUSTED_ORIGINS="https://example.org, http://localhost:8000")
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://example.org", "http://localhost:8000"]
    for bad in ("example.org", "https://example.org/gallery/"):
        with pytest.raises(ImproperlyConfigured, match="DJANGO_CSRF_TRUSTED_ORIGINS.*origin"):
            load(DJANGO_CSRF_TRUSTED_ORIGINS=bad)


# --- the database -----------------------------------------------------------------------------


def test_database_url_selects_postgresql(load):
    s = load(
        DATABASE_URL="postgres://gallery:s3cret@db.example.org:5433/artworks",
        DJANGO_CONN_MAX_AGE="60",
    )
    db = s["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"]) == ("db.example.org", 5433, "artworks")
    assert (db["USER"], db["PASSWORD"]) == ("gallery", "s3cret")
    assert db["CONN_MAX_AGE"] == 60 and db["CONN_HEALTH_CHECKS"] is True


def test_a_sqlite_database_url_keeps_the_busy_timeout(load, tmp_path):
    db = load(DATABASE_URL=f"sqlite:///{tmp_path}/site.sqlite3")["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == f"{tmp_path}/site.sqlite3" and db["OPTIONS"]["timeout"] == 20


def test_gallery_db_wins_over_database_url(load, tmp_path):
    """Notebooks and tests pass GALLERY_DB to get a private SQLite file, whatever else is set."""
    db = load(
        GALLERY_DB=str(tmp_path / "notebook.sqlite3"),
        DATABASE_URL="postgres://gallery:s3cret@localhost/artworks",
    )["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "notebook.sqlite3")


@pytest.mark.parametrize(
    "url",
    [
        "mongodb://gallery:s3cret@localhost/artworks",
        "postgres://gallery:s3cret@localhost:port/artworks",
        "postgres://gallery:s3cret@localhost:5432/",
    ],
)
def test_a_bad_database_url_is_refused_without_echoing_the_password(load, url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL") as caught:
        load(DATABASE_URL=url)
    assert "s3cret" not in str(caught.value)


@pytest.mark.django_db
def test_the_suite_runs_on_the_database_the_environment_names():
    """`make test-postgres` sets DATABASE_URL: prove the tests then really run on PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")) and not os.environ.get("GALLERY_DB"):
        assert connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute("select version()")
            assert cursor.fetchone()[0].startswith("PostgreSQL")
    else:
        assert connection.vendor == "sqlite"
