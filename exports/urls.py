"""Pages of exports: a project's webhooks."""

from django.urls import path

from exports.views import webhooks

hooks = "projects/<int:pk>/webhooks"
hook = f"{hooks}/<int:webhook_id>"

urlpatterns = [
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
