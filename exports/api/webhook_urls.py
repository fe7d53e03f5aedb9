"""Routes of the webhooks API, under /api/v1/projects/{project_pk}/webhooks/."""

from __future__ import annotations

from django.urls import URLPattern, path

from exports.api import webhooks as views

webhooks = "projects/<int:project_pk>/webhooks"
deliveries = f"{webhooks}/<int:webhook_pk>/deliveries"

urlpatterns: list[URLPattern] = [
    path(f"{webhooks}/", views.WebhookListView.as_view(), name="api-webhook-list"),
    path(f"{webhooks}/<int:pk>/", views.WebhookDetailView.as_view(), name="api-webhook-detail"),
    path(f"{webhooks}/<int:pk>/ping/", views.WebhookPingView.as_view(), name="api-webhook-ping"),
    path(f"{deliveries}/", views.DeliveryListView.as_view(), name="api-webhook-delivery-list"),
    path(
        f"{deliveries}/<int:pk>/",
        views.DeliveryDetailView.as_view(),
        name="api-webhook-delivery-detail",
    ),
    path(
        f"{deliveries}/<int:pk>/redeliver/",
        views.DeliveryRedeliverView.as_view(),
        name="api-webhook-delivery-redeliver",
    ),
]
