from django.contrib.admin.apps import AdminConfig


class AccordAdminConfig(AdminConfig):
    """Django's admin with Accord's site (config.admin): leads enter it without being staff."""

    default_site = "config.admin.AccordAdminSite"
