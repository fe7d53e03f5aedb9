"""A project's webhooks (a lead's pages): the list with each webhook's latest delivery and the
form that registers one (its secret shown once), and a webhook's page with its settings, a
ping, and its deliveries' log with every attempt and a redeliver button. Every write is one
call to `exports.services.webhooks`; a rater gets 403, anyone outside the project 404."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from exports.forms import EVENT_LABELS, WebhookForm
from exports.models import DeliveryStatus, Webhook, WebhookDelivery
from exports.services.webhooks import (
    EVENT_VERSION_READY,
    deliveries_of_webhook,
    max_attempts,
    redelivery_number,
    retry_delays,
    webhook_create,
    webhook_delete,
    webhook_events,
    webhook_ping,
    webhook_redeliver,
    webhook_update,
    webhooks_of_project,
)
from projects.views.access import (
    AuthenticatedRequest,
    ProjectAccess,
    apply_service_error,
    project_for,
)

NEW_WEBHOOK_SESSION_KEY = "accord_new_webhook"
DELIVERIES_PER_PAGE = 20
# The page refreshes its log by itself while an attempt is due this soon.
REFRESH_WITHIN = timedelta(seconds=60)


def _webhook(access: ProjectAccess, webhook_id: int) -> Webhook:
    return get_object_or_404(webhooks_of_project(project=access.project), pk=webhook_id)


def _labelled(webhook: Webhook) -> Webhook:
    webhook.event_labels = [EVENT_LABELS.get(e, e) for e in webhook_events(webhook)]  # type: ignore[attr-defined]
    return webhook


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _retry_terms() -> dict[str, Any]:
    """What the pages say of timeouts and retries, from the settings."""
    waits = [_duration(seconds) for seconds in retry_delays()]
    if len(waits) > 1:
        schedule = ", ".join(waits[:-1]) + " and " + waits[-1]
    else:
        schedule = waits[0] if waits else "no wait: it is not retried"
    return {
        "timeout": settings.ACCORD_WEBHOOK_TIMEOUT_SECONDS,
        "retry_schedule": schedule,
        "attempts": max_attempts(EVENT_VERSION_READY),
    }


def _service_errors(request: AuthenticatedRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


@login_required
def project_webhooks(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The project's webhooks and the form that adds one. A new webhook's secret is kept in the
    session only until the page that shows it once has been rendered (post, redirect, get)."""
    access = project_for(request, pk)
    project = access.project
    form = WebhookForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            webhook, secret = webhook_create(
                project=project, url=form.cleaned_data["url"],
                events=form.cleaned_data["events"], created_by=request.user,
            )  # fmt: skip
        except ValidationError as error:
            for message in apply_service_error(form, error):
                form.add_error(None, message)
        else:
            request.session[NEW_WEBHOOK_SESSION_KEY] = {
                "id": webhook.pk, "project": project.pk, "secret": secret
            }  # fmt: skip
            return redirect("project-webhooks", pk=pk)
    new_webhook = request.session.pop(NEW_WEBHOOK_SESSION_KEY, None)
    if new_webhook and new_webhook.get("project") != project.pk:
        new_webhook = None
    response = render(
        request,
        "exports/webhooks.html",
        {
            "access": access,
            "project": project,
            "active_tab": "webhooks",
            "form": form,
            "webhooks": [_labelled(w) for w in webhooks_of_project(project=project)],
            "new_webhook": new_webhook,
            **_retry_terms(),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def project_webhook(request: AuthenticatedRequest, pk: int, webhook_id: int) -> HttpResponse:
    """One webhook: its settings (URL and events, changed here), a ping, and its deliveries'
    log, newest first, each with every attempt."""
    access = project_for(request, pk)
    webhook = _webhook(access, webhook_id)
    initial = {"url": webhook.url, "events": webhook_events(webhook)}
    form = WebhookForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            webhook_update(
                webhook=webhook, url=form.cleaned_data["url"], events=form.cleaned_data["events"]
            )
        except ValidationError as error:
            for message in apply_service_error(form, error):
                form.add_error(None, message)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("project-webhook", pk=pk, webhook_id=webhook.pk)
    page = Paginator(deliveries_of_webhook(webhook=webhook), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    now = timezone.now()
    deliveries: list[WebhookDelivery] = list(page.object_list)
    for delivery in deliveries:
        delivery.max_attempts = max_attempts(delivery.event)  # type: ignore[attr-defined]
        delivery.redelivery = redelivery_number(delivery)  # type: ignore[attr-defined]
        delivery.in_flight = delivery.attempts > len(delivery.attempt_log)  # type: ignore[attr-defined]
        version = (delivery.payload or {}).get("version") or {}
        delivery.version_label = version.get("label", "")  # type: ignore[attr-defined]
        delivery.payload_text = json.dumps(delivery.payload, indent=2, ensure_ascii=False)  # type: ignore[attr-defined]
    refresh = any(
        d.status == DeliveryStatus.PENDING
        and (d.next_attempt_at is None or d.next_attempt_at - now < REFRESH_WITHIN)
        for d in deliveries
    )
    return render(
        request,
        "exports/webhook.html",
        {
            "access": access,
            "project": access.project,
            "active_tab": "webhooks",
            "webhook": _labelled(webhook),
            "form": form,
            "page": page,
            "deliveries": deliveries,
            "refresh": refresh,
            **_retry_terms(),
        },
    )


def _back(request: AuthenticatedRequest, pk: int, webhook: Webhook) -> HttpResponse:
    """To the list when the form came from it, else to the webhook's page."""
    if request.POST.get("back") == "list":
        return redirect("project-webhooks", pk=pk)
    return redirect("project-webhook", pk=pk, webhook_id=webhook.pk)


@login_required
@require_POST
def webhook_activate(request: AuthenticatedRequest, pk: int, webhook_id: int) -> HttpResponse:
    webhook = _webhook(project_for(request, pk), webhook_id)
    try:
        webhook_update(webhook=webhook, is_active=True)
    except ValidationError as error:
        _service_errors(request, error)
    else:
        messages.success(request, f"{webhook.url} is active: it is called for new events.")
    return _back(request, pk, webhook)


@login_required
@require_POST
def webhook_deactivate_view(
    request: AuthenticatedRequest, pk: int, webhook_id: int
) -> HttpResponse:
    webhook = _webhook(project_for(request, pk), webhook_id)
    webhook_update(webhook=webhook, is_active=False)
    messages.success(
        request, f"{webhook.url} is inactive: no new deliveries, and pending retries stop."
    )
    return _back(request, pk, webhook)


@login_required
@require_POST
def webhook_delete_view(request: AuthenticatedRequest, pk: int, webhook_id: int) -> HttpResponse:
    webhook = _webhook(project_for(request, pk), webhook_id)
    url = webhook.url
    webhook_delete(webhook=webhook)
    messages.success(request, f"The webhook {url} and its deliveries' log were deleted.")
    return redirect("project-webhooks", pk=pk)


@login_required
@require_POST
def webhook_ping_view(request: AuthenticatedRequest, pk: int, webhook_id: int) -> HttpResponse:
    webhook = _webhook(project_for(request, pk), webhook_id)
    delivery = webhook_ping(webhook=webhook)
    messages.success(
        request, f"Ping sent (delivery {delivery.pk}); the receiver's answer shows in the log."
    )
    return redirect("project-webhook", pk=pk, webhook_id=webhook.pk)


@login_required
@require_POST
def webhook_redeliver_view(
    request: AuthenticatedRequest, pk: int, webhook_id: int, delivery_id: int
) -> HttpResponse:
    webhook = _webhook(project_for(request, pk), webhook_id)
    delivery = get_object_or_404(deliveries_of_webhook(webhook=webhook), pk=delivery_id)
    try:
        again = webhook_redeliver(delivery=delivery)
    except ValidationError as error:
        _service_errors(request, error)
    else:
        messages.success(request, f"Delivery {delivery.pk} sent again as delivery {again.pk}.")
    return redirect("project-webhook", pk=pk, webhook_id=webhook.pk)
