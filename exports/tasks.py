"""Celery tasks of the exports app: thin, each loads by id and calls one service."""

from __future__ import annotations

from celery import shared_task

from exports.services.build import dataset_version_run
from exports.services.webhooks import webhook_deliver, webhook_deliveries_sweep


@shared_task(name="exports.tasks.dataset_version_build")
def dataset_version_build_task(version_id: int) -> str:
    """Build a dataset version (its row holds the status and progress)."""
    return dataset_version_run(version_id=version_id).status


@shared_task(name="exports.tasks.webhook_delivery")
def webhook_delivery_task(delivery_id: int) -> str | None:
    """One attempt at a webhook delivery; the service schedules the next. Safe to run twice."""
    delivery = webhook_deliver(delivery_id=delivery_id)
    return delivery.status if delivery else None


@shared_task(name="exports.tasks.webhook_deliveries_sweep")
def webhook_deliveries_sweep_task() -> int:
    """Queue again the deliveries whose task was lost (beat runs it every few minutes)."""
    return webhook_deliveries_sweep()
