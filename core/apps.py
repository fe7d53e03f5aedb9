from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares and no domain owns: SQL helpers, the job machinery, file readers,
    the API's error format and pagination, and the admin's scoping."""

    name = "core"
    verbose_name = "Core"
