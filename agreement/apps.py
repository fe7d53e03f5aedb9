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
