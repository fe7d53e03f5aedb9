import sqlite3
from typing import Any

from django.apps import AppConfig
from django.core import checks

# The labeling hot path's SQL uses INSERT ... RETURNING and upserts with RETURNING.
MIN_SQLITE = (3, 35, 0)


@checks.register(checks.Tags.database)
def sqlite_is_new_enough(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.db import connection

    if connection.vendor != "sqlite" or sqlite3.sqlite_version_info >= MIN_SQLITE:
        return []
    return [
        checks.Error(
            f"SQLite {sqlite3.sqlite_version} is too old for Accord's labeling SQL "
            f"(RETURNING needs {'.'.join(map(str, MIN_SQLITE))} or newer).",
            hint="Use a Python built with a newer SQLite, or PostgreSQL (DATABASE_URL).",
            id="labeling.E001",
        )
    ]


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"
