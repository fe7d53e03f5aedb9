"""Settings as each environment sees them, and the demo that `make run` seeds.

Settings are read in a fresh interpreter with a clean environment, as a server would start: a
module that refuses to load must refuse before anything else happens.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from exports.models import DatasetVersion
from projects.models import ImageBlob, ImportJob, Item, Label, Membership, Project, Role

BASE_DIR = Path(django_settings.BASE_DIR)

READ_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "DATABASE": settings.DATABASES["default"],
    "CELERY_TASK_ALWAYS_EAGER": settings.CELERY_TASK_ALWAYS_EAGER,
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    "CACHE": settings.CACHES["default"]["BACKEND"],
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "STATICFILES_STORAGE": settings.STORAGES["staticfiles"]["BACKEND"],
    "MIDDLEWARE": settings.MIDDLEWARE,
    "LOG_FORMATTER": settings.LOGGING["handlers"]["console"].get("formatter"),
}, default=str))
"""


def read_settings(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Load `module` in a new interpreter whose environment holds only PATH and `env`."""
    return subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        cwd=BASE_DIR,
        env={"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": module, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def loaded(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- settings -------------------------------------------------------------------------------------


def test_base_with_no_variable_uses_sqlite_and_a_worker_through_files_under_var() -> None:
    """The embedded default: nothing to install, and still no task inside a web request."""
    values = loaded(read_settings("config.settings.base"))

    assert values["DATABASE"]["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(values["DATABASE"]["NAME"]) == BASE_DIR / "var" / "accord.sqlite3"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["CELERY_BROKER_URL"] == "filesystem://"
    assert values["CACHE"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert values["DEBUG"] is False


def test_base_with_database_and_redis_urls_uses_postgres_and_a_real_worker() -> None:
    values = loaded(
        read_settings(
            "config.settings.base",
            DATABASE_URL="postgres://accord@db.internal:5433/accord",
            REDIS_URL="redis://cache.internal:6379/2",
        )
    )

    assert values["DATABASE"]["ENGINE"] == "django.db.backends.postgresql"
    assert values["DATABASE"]["HOST"] == "db.internal"
    assert values["DATABASE"]["PORT"] == 5433
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["CELERY_BROKER_URL"] == "redis://cache.internal:6379/2"
    assert values["CACHE"] == "core.cache.ReusedClientRedisCache"


def test_local_settings_turn_debug_on() -> None:
    assert loaded(read_settings("config.settings.local"))["DEBUG"] is True


def test_the_served_app_has_debug_off_unless_the_environment_turns_it_on() -> None:
    """`make run` serves config.wsgi with gunicorn (manage.py serve): DEBUG must be off
    there (it shows tracebacks and settings), while manage.py's local settings keep it on."""

    def served_debug(**env: str) -> bool:
        result = subprocess.run(
            [sys.executable, "-c",
             "import config.wsgi; from django.conf import settings; print(settings.DEBUG)"],
            cwd=BASE_DIR, env={"PATH": os.environ.get("PATH", ""), **env},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.strip() == "True"

    assert served_debug() is False
    # manage.py serve (make run) starts gunicorn with manage.py's own settings module.
    assert served_debug(DJANGO_SETTINGS_MODULE="config.settings.local") is False
    assert served_debug(DEBUG="true") is True


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = read_settings("config.settings.production", ALLOWED_HOSTS="accord.example.com")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    "secret_key",
    [django_settings.DEVELOPMENT_SECRET_KEY, "change-me-to-a-long-random-string"],
    ids=["development default", ".env.example placeholder"],
)
def test_production_refuses_a_known_secret_key(secret_key: str) -> None:
    result = read_settings(
        "config.settings.production", SECRET_KEY=secret_key, ALLOWED_HOSTS="accord.example.com"
    )

    assert result.returncode != 0
    assert "set a secret one" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts() -> None:
    result = read_settings("config.settings.production", SECRET_KEY="s3cret-" * 8)

    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_production_with_its_variables_is_locked_down() -> None:
    values = loaded(
        read_settings(
            "config.settings.production",
            SECRET_KEY="s3cret-" * 8,
            ALLOWED_HOSTS="accord.example.com, www.accord.example.com",
            DEBUG="true",  # ignored: production never debugs
        )
    )

    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == "s3cret-" * 8
    assert values["ALLOWED_HOSTS"] == ["accord.example.com", "www.accord.example.com"]
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["STATICFILES_STORAGE"] == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in values["MIDDLEWARE"]
    assert values["LOG_FORMATTER"] == "json"


def test_production_logs_one_json_object_per_line() -> None:
    script = (
        "import logging, django; django.setup(); "
        "logging.getLogger('accord.check').warning('import %s finished', 7)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": "s3cret-" * 8,
            "ALLOWED_HOSTS": "accord.example.com",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "import 7 finished"
    assert line["levelname"] == "WARNING"
    assert line["name"] == "accord.check"


# --- the demo -------------------------------------------------------------------------------------

PASSWORD_LINE = re.compile(r"^\s+(lead|rater\d)\s+(\S+)\s+\(", re.MULTILINE)


def demo_counts() -> dict[str, int]:
    return {
        "users": get_user_model().objects.count(),
        "projects": Project.objects.count(),
        "labels": Label.objects.count(),
        "memberships": Membership.objects.count(),
        "items": Item.objects.count(),
        "gold items": Item.objects.filter(is_gold=True).count(),
        "images": ImageBlob.objects.count(),
        "import jobs": ImportJob.objects.count(),
    }


def seed_demo() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.mark.django_db
def test_seed_demo_creates_two_projects_with_their_items(media_root: Path) -> None:
    seed_demo()

    digits = Project.objects.get(name="Handwritten digits")
    assert digits.content_type == "image"
    assert digits.label_kind == "single"
    assert digits.raters_per_item == 3
    assert list(digits.labels.values_list("value", "hotkey")) == [
        (str(d), str(d)) for d in range(10)
    ]
    assert digits.items.count() == 300
    assert not digits.items.filter(image__isnull=True).exists()
    first_item = digits.items.select_related("image").order_by("pk").first()
    assert first_item is not None and first_item.image is not None
    image = first_item.image
    assert (image.format, image.width, image.height) == ("PNG", 128, 128)
    assert image.file.storage.exists(image.file.name or "")
    assert Path(image.file.path).is_relative_to(media_root)
    gold = list(digits.items.filter(is_gold=True).values_list("gold_value", flat=True))
    assert sorted(str(value) for value in gold) == [str(d) for d in range(10)]
    assert "## Which digit is this?" in digits.instructions

    tickets = Project.objects.get(name="Support ticket triage")
    assert tickets.content_type == "text"
    assert tickets.label_kind == "single"
    assert list(tickets.labels.values_list("value", "hotkey")) == [
        ("billing", "1"), ("bug", "2"), ("feature_request", "3"), ("account", "4"),
        ("other", "5"),
    ]  # fmt: skip
    assert tickets.items.count() == 200
    assert tickets.items.exclude(text="").count() == 200
    assert tickets.items.values("text").distinct().count() == 200

    for project in (digits, tickets):
        roles = dict(
            project.memberships.filter(is_external=False).values_list("user__username", "role")
        )
        assert roles == {
            "lead": Role.LEAD, "rater1": Role.RATER, "rater2": Role.RATER, "rater3": Role.RATER,
        }  # fmt: skip
        assert project.import_jobs.get().status == "succeeded"

    # The tickets' vendor labels: three external raters on the first 120, the agreement computed
    # over them, and a first dataset version of their labels of record.
    vendors = tickets.memberships.filter(is_external=True)
    assert sorted(vendors.values_list("external_name", flat=True)) == [
        "vendor-ana", "vendor-ben", "vendor-cho",
    ]  # fmt: skip
    assert tickets.annotations.count() == 360
    assert not digits.annotations.exists()
    statuses = set(tickets.items.filter(key__lte="ticket-0120").values_list("status", flat=True))
    assert statuses <= {"agreed", "conflict"} and "conflict" in statuses
    [version] = DatasetVersion.objects.filter(project=tickets)
    assert (version.label, version.is_ready) == ("v1", True)
    assert version.row_count == tickets.items.filter(status="agreed").count()


@pytest.mark.django_db
def test_seed_demo_prints_passwords_once_and_a_second_run_changes_nothing(
    media_root: Path,
) -> None:
    output = seed_demo()
    first = demo_counts()
    first_items = list(Item.objects.order_by("pk").values_list("pk", "key", "content_hash"))

    printed = dict(PASSWORD_LINE.findall(output))
    assert set(printed) == {"lead", "rater1", "rater2", "rater3"}
    assert len(set(printed.values())) == 4
    User = get_user_model()
    for username, password in printed.items():
        user = User.objects.get(username=username)
        assert user.check_password(password), f"the password printed for {username} is wrong"
        assert user.is_staff == (username == "lead")
        assert not user.is_superuser
    assert (first["users"], first["projects"], first["items"], first["gold items"]) == (
        7,
        2,
        500,
        10,
    )  # fmt: skip  (4 people, and the 3 external raters of the tickets' vendor labels)

    again = seed_demo()

    assert demo_counts() == first
    assert list(Item.objects.order_by("pk").values_list("pk", "key", "content_hash")) == (
        first_items
    )
    assert PASSWORD_LINE.findall(again) == []
    assert "User lead exists" in again
    assert "manage.py changepassword lead" in again
    assert "Project 'Handwritten digits' exists." in again
    for username, password in printed.items():
        assert User.objects.get(username=username).check_password(password)


@pytest.mark.django_db
def test_the_hot_paths_statements_are_prepared_on_postgres() -> None:
    from django.db import connection

    from core import sql

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's; set DATABASE_URL=postgres://...")
    for _ in range(6):  # psycopg prepares a statement at its fifth run on a connection
        assert sql.fetch_one("SELECT %s::int + 1", [41]) == (42,)
    assert sql.fetch_one("SELECT count(*) FROM pg_prepared_statements", [])[0] >= 1
    # The server's own plan caching unless ACCORD_PG_PLAN_CACHE_MODE says otherwise.
    wanted = os.environ.get("ACCORD_PG_PLAN_CACHE_MODE")
    options = connection.settings_dict["OPTIONS"].get("options", "")
    if wanted:
        assert sql.fetch_one("SHOW plan_cache_mode", []) == (wanted,)
    else:
        assert "plan_cache_mode" not in options


def test_an_unknown_plan_cache_mode_is_refused_at_start() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local",
             "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
             "ACCORD_PG_PLAN_CACHE_MODE": "force_custom"},
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert result.returncode != 0
    assert "ACCORD_PG_PLAN_CACHE_MODE='force_custom'" in result.stderr


def test_the_api_schema_describes_what_the_api_does_and_names_the_rest_as_planned(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    description = schema["info"]["description"]
    built, planned = description.split("Planned")
    for capability in ("labeling", "conflict queue", "scorecards", "recompute", "dataset versions"):
        assert capability in built
    assert "weak labels" in planned
