from django.apps import AppConfig


class OverviewConfig(AppConfig):
    """The top layer: pages that gather figures from every app below it (the home page, a
    project's overview) and the demo that fills them."""

    name = "overview"
    verbose_name = "Overview"
