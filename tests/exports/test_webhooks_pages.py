"""The webhooks pages without a browser: what a lead reads on them after each action, and what
the pages refuse. (tests/browser/test_webhooks_page.py drives them in Chromium; the permission
matrix, tests/test_page_permissions.py, who may open them.)

alice leads `project`, bob rates in it.
"""

from __future__ import annotations

import pytest
from django.test import Client

from exports.models import DeliveryStatus, Webhook, WebhookDelivery
from exports.services.webhooks import webhook_create
from projects.services.archive import project_archive

pytestmark = pytest.mark.django_db


def lead(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_the_secret_is_shown_once_and_never_cached(project, alice):
    client = lead(alice)
    url = f"/projects/{project.pk}/webhooks/"
    form = {"url": "https://ci.example.com/in", "events": ["dataset.version.ready"]}
    shown = client.post(url, form, follow=True)
    secret = Webhook.objects.get(project=project).secret
    assert secret in shown.content.decode()
    assert shown["Cache-Control"] == "no-store"
    again = client.get(url).content.decode()
    assert secret not in again and "https://ci.example.com/in" in again
    page = client.get(f"{url}{Webhook.objects.get().pk}/").content.decode()
    assert secret not in page


def test_an_archived_project_refuses_a_new_webhook_on_the_form(project, alice):
    project_archive(project=project)
    page = lead(alice).post(
        f"/projects/{project.pk}/webhooks/",
        {"url": "https://ci.example.com/in", "events": ["dataset.version.ready"]},
    )
    assert page.status_code == 200
    assert "is archived and read-only" in page.content.decode()
    assert not Webhook.objects.exists()


def test_a_pending_delivery_is_not_redelivered_and_the_page_says_why(project, alice):
    webhook, _ = webhook_create(project=project, url="http://127.0.0.1:9/x", created_by=alice)
    pending = WebhookDelivery.objects.create(
        webhook=webhook, event="dataset.version.ready", event_id="dataset.version.ready:1",
        payload={"version": {"label": "v1"}}, status=DeliveryStatus.PENDING,
    )  # fmt: skip
    page = lead(alice).post(
        f"/projects/{project.pk}/webhooks/{webhook.pk}/deliveries/{pending.pk}/redeliver/",
        follow=True,
    )
    text = page.content.decode()
    assert "is still being delivered" in text and "v1 is ready" in text
    assert WebhookDelivery.objects.count() == 1
    assert "data-refresh" in text, "a pending delivery keeps the log refreshing"


def test_a_changed_url_is_saved_and_a_bad_one_named(project, alice):
    webhook, _ = webhook_create(project=project, url="http://h.example/a", created_by=alice)
    client = lead(alice)
    url = f"/projects/{project.pk}/webhooks/{webhook.pk}/"
    refused = client.post(url, {"url": "gopher://h.example/", "events": ["dataset.version.ready"]})
    assert "Give an http:// or https:// URL" in refused.content.decode()
    client.post(url, {"url": "https://h.example/b", "events": ["dataset.version.ready"]})
    webhook.refresh_from_db()
    assert webhook.url == "https://h.example/b"


def test_only_leads_see_the_tab(project, alice, bob):
    assert (
        f"/projects/{project.pk}/webhooks/"
        in lead(alice).get(f"/projects/{project.pk}/tokens/").content.decode()
    )
    rater = Client()
    rater.force_login(bob)
    assert "/webhooks/" not in rater.get(f"/projects/{project.pk}/").content.decode()
