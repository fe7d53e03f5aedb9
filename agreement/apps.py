from django.apps import AppConfig


class AgreementConfig(AppConfig):
    name = "agreement"
    verbose_name = "Agreement"

    def ready(self) -> None:
        # Labeling stands below agreement and cannot call it: it calls its listeners instead
        # (labeling/changes.py), inside the transaction that changed an item's labels.
        from agreement.services.evaluation import labels_changed_handle
        from labeling.changes import labels_changed_listen

        labels_changed_listen(labels_changed_handle)
        # Likewise projects, when a lead changes the project's rule.
        from agreement.services.recompute import settings_changed_handle
        from projects.changes import settings_changed_listen

        settings_changed_listen(settings_changed_handle)
