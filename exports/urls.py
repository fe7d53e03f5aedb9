"""Pages of exports: a project's dataset versions and its webhooks."""

from django.urls import path

from exports.views import datasets, webhooks

datasets_ = "projects/<int:pk>/datasets"
version = f"{datasets_}/<int:version_id>"

hooks = "projects/<int:pk>/webhooks"
hook = f"{hooks}/<int:webhook_id>"

urlpatterns = [
    path(f"{datasets_}/", datasets.project_datasets, name="project-datasets"),
    path(f"{datasets_}/diff/", datasets.dataset_diff, name="project-dataset-diff"),
    path(f"{version}/", datasets.dataset_version, name="project-dataset-version"),
    path(
        f"{version}/status.json",
        datasets.dataset_version_status,
        name="project-dataset-version-status",
    ),
    path(
        f"{version}/retry/",
        datasets.dataset_version_retry_view,
        name="project-dataset-version-retry",
    ),
    path(f"{hooks}/", webhooks.project_webhooks, name="project-webhooks"),
    path(f"{hook}/", webhooks.project_webhook, name="project-webhook"),
    path(f"{hook}/activate/", webhooks.webhook_activate, name="project-webhook-activate"),
    path(
        f"{hook}/deactivate/", webhooks.webhook_deactivate_view, name="project-webhook-deactivate"
    ),
    path(f"{hook}/delete/", webhooks.webhook_delete_view, name="project-webhook-delete"),
    path(f"{hook}/ping/", webhooks.webhook_ping_view, name="project-webhook-ping"),
    path(
        f"{hook}/deliveries/<int:delivery_id>/redeliver/",
        webhooks.webhook_redeliver_view,
        name="project-webhook-redeliver",
    ),
]
