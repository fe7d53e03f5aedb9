"""Webhooks against a real receiver on 127.0.0.1 that checks every signature with the README's
recipe: a ready version is announced once to each active webhook, failed attempts are retried
after the configured waits (with their jitter) and recorded, a delivered one is never sent again,
a dead URL ends failed after the last attempt, a ping is tried once, and a lead redelivers.

alice leads `project`; her pipeline's receiver listens on a free port. Tasks run in-process
(tests/conftest.py) when the transaction commits, except in the last test, where a real Celery
worker delivers.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from exports.models import DeliveryStatus, Webhook, WebhookDelivery
from exports.services.webhooks import (
    EVENT_PING,
    EVENT_VERSION_READY,
    redelivery_number,
    user_agent,
    webhook_create,
    webhook_deactivate,
    webhook_delete,
    webhook_deliver,
    webhook_ping,
    webhook_redeliver,
    webhook_sign,
    webhook_update,
    webhooks_emit_version_ready,
    webhooks_of_project,
)
from exports.tasks import webhook_deliveries_sweep_task, webhook_delivery_task
from projects.services.archive import project_archive
from tests.conftest import wait_for
from tests.exports.webhook_receiver import (
    Receiver,
    closed_port_url,
    ready_version,
    running_receiver,
    verify,
)
from tests.factories import make_project

pytestmark = pytest.mark.django_db

DELAYS = (0.05, 0.1, 0.2)  # config/settings/test.py
JITTER = 0.1


@pytest.fixture
def countdowns(monkeypatch) -> list[tuple[int, float | None]]:
    """The (delivery id, countdown) of every task the service enqueues; the tasks still run."""
    seen: list[tuple[int, float | None]] = []
    real = webhook_delivery_task.apply_async

    def spy(args: tuple[int], countdown: float | None = None, **options: Any) -> Any:
        seen.append((args[0], countdown))
        return real(args, countdown=countdown, **options)

    monkeypatch.setattr(webhook_delivery_task, "apply_async", spy)
    return seen


def hook(project: Any, alice: Any, receiver: Receiver, **fields: Any) -> Webhook:
    webhook, secret = webhook_create(project=project, url=receiver.url, created_by=alice, **fields)
    receiver.secret = secret
    return webhook


# --- registering -------------------------------------------------------------------------------


def test_a_webhook_is_made_with_a_secret_shown_once_and_stored_to_sign(project, alice):
    webhook, secret = webhook_create(
        project=project, url="  https://ci.example.com/accord-hook ", created_by=alice
    )
    assert secret.startswith("whsec_") and len(secret) > 40
    assert webhook.url == "https://ci.example.com/accord-hook"
    assert webhook.events == EVENT_VERSION_READY and webhook.is_active
    assert Webhook.objects.get(pk=webhook.pk).secret == secret, "kept, to sign with"
    _, other_secret = webhook_create(project=project, url="http://10.0.0.7/h", created_by=None)
    assert other_secret != secret


@pytest.mark.parametrize(
    "url",
    ["ftp://files.example.com/in", "file:///etc/passwd", "javascript:alert(1)", "example.com/h",
     "https://", "http://user:pw@example.com/h", "http://exa mple.com/h", "http://h:99999/x",
     "gopher://127.0.0.1:70/x", ""],
)  # fmt: skip
def test_urls_other_than_http_and_https_or_with_credentials_are_refused(project, alice, url):
    with pytest.raises(ValidationError) as refused:
        webhook_create(project=project, url=url, created_by=alice)
    assert "url" in refused.value.message_dict
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://localhost/h", "http://receiver:9000/in",
            "https://[::1]:8443/h", "http://192.168.1.20/accord"],
)  # fmt: skip
def test_loopback_private_and_single_label_hosts_are_allowed(project, alice, url):
    webhook, _ = webhook_create(project=project, url=url, created_by=alice)
    assert webhook.url == url


def test_events_must_be_known_and_an_archived_project_takes_no_new_webhook(project, alice):
    with pytest.raises(ValidationError, match=r"Unknown event 'dataset\.deleted'"):
        webhook_create(project=project, url="http://h.example/x", events=["dataset.deleted"],
                       created_by=alice)  # fmt: skip
    with pytest.raises(ValidationError, match="at least one event"):
        webhook_create(project=project, url="http://h.example/x", events=[], created_by=alice)
    webhook, _ = webhook_create(project=project, url="http://h.example/x", created_by=alice)
    project_archive(project=project)
    with pytest.raises(Conflict, match="archived"):
        webhook_create(project=project, url="http://h.example/y", created_by=alice)
    with pytest.raises(Conflict, match="archived"):
        webhook_update(webhook=webhook, url="http://h.example/z")
    webhook_deactivate(webhook=webhook)  # taking a webhook away is allowed
    assert not Webhook.objects.get(pk=webhook.pk).is_active
    with pytest.raises(Conflict, match="archived"):
        webhook_update(webhook=webhook, is_active=True)
    webhook.refresh_from_db()
    assert not webhook.is_active


# --- announcing a version ----------------------------------------------------------------------


def test_a_ready_version_is_announced_once_to_each_active_webhook_signed(
    project, alice, django_capture_on_commit_callbacks, settings
):
    settings.ACCORD_PUBLIC_URL = "https://accord.example.com/"
    with running_receiver() as first, running_receiver() as second:
        off = hook(project, alice, second)
        webhook_deactivate(webhook=off)
        a, b = hook(project, alice, first), hook(project, alice, second)
        version = ready_version(project, number=3)

        with django_capture_on_commit_callbacks(execute=True):
            made = webhooks_emit_version_ready(version=version)
        with django_capture_on_commit_callbacks(execute=True):
            again = webhooks_emit_version_ready(version=version)

        assert {d.webhook_id for d in made} == {a.pk, b.pk} and again == []
        assert first.count == 1 and second.count == 1, "twice emitted, once delivered"
        call = first.calls[0]
        assert call.verified and second.calls[0].verified
        assert not verify("whsec_not-the-secret", call.headers, call.body)
        delivery = WebhookDelivery.objects.get(webhook=a)
        assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
        assert call.headers["Content-Type"] == "application/json"
        assert call.headers["User-Agent"] == user_agent() == "Accord-Webhooks/0.1.0"
        assert call.headers["X-Accord-Event"] == "dataset.version.ready"
        assert call.headers["X-Accord-Delivery"] == str(delivery.pk)
        assert call.headers["X-Accord-Signature"].startswith("sha256=")

    body = call.json
    assert body == delivery.payload, "the body as sent is kept"
    assert body["event"] == "dataset.version.ready"
    assert body["event_id"] == f"dataset.version.ready:{version.pk}"
    assert body["project"] == {"id": project.pk, "name": project.name}
    sent = body["version"]
    assert {k: sent[k] for k in ("id", "number", "label", "name", "row_count", "content_hash")} == {
        "id": version.pk, "number": 3, "label": "v3", "name": "First cut", "row_count": 1234,
        "content_hash": "c" * 64,
    }  # fmt: skip
    base = (
        f"https://accord.example.com/api/v1/projects/{project.pk}/datasets/versions/{version.pk}/"
    )
    assert sent["manifest_url"] == base + "manifest/"
    assert [f["name"] for f in sent["files"]] == ["data.parquet", "data.jsonl", "manifest.json"]
    parquet = sent["files"][0]
    assert parquet["size"] == 52_100 and len(parquet["sha256"]) == 64
    assert parquet["url"] == base + "files/data.parquet"
    assert sent["media_files"] == 2, "images are listed in the manifest, not here"


def test_a_version_that_is_not_ready_is_not_announced(project, alice):
    hook(project, alice, Receiver(url="http://127.0.0.1:9/x"))
    version = ready_version(project)
    version.status, version.number, version.outcome = "running", None, ""
    assert webhooks_emit_version_ready(version=version) == []
    assert not WebhookDelivery.objects.exists()


# --- retries -----------------------------------------------------------------------------------


def test_failed_attempts_are_retried_with_backoff_and_each_is_recorded(
    project, alice, django_capture_on_commit_callbacks, countdowns
):
    with running_receiver(fail_first=2) as receiver:
        webhook = hook(project, alice, receiver)
        with django_capture_on_commit_callbacks(execute=True):
            (delivery,) = webhooks_emit_version_ready(version=ready_version(project))

        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.DELIVERED
        assert receiver.count == 3 and all(call.verified for call in receiver.calls)
        assert {call.headers["X-Accord-Delivery"] for call in receiver.calls} == {str(delivery.pk)}

    assert delivery.attempts == 3 and delivery.delivered_at is not None
    log = delivery.attempt_log
    assert [entry["attempt"] for entry in log] == [1, 2, 3]
    assert [entry["status_code"] for entry in log] == [500, 500, 200]
    assert log[0]["error"] == "The receiver answered 500 Internal Server Error."
    assert log[0]["response"] == "receiver says no"
    assert log[2]["error"] == "" and log[2]["response"] == '{"ok": true}'
    assert all(0 <= entry["seconds"] < 2 for entry in log)
    # The first task at once, then one per failure after its wait, within its jitter.
    assert [d for d, _ in countdowns] == [delivery.pk] * 3
    assert countdowns[0][1] is None
    for (_, countdown), delay in zip(countdowns[1:], DELAYS, strict=False):
        assert countdown is not None
        assert delay * (1 - JITTER) <= countdown <= delay * (1 + JITTER)
    assert webhooks_of_project(project=project).get(pk=webhook.pk).last_delivery_status == (
        "delivered"
    )


def test_the_jitter_spreads_the_waits(project, alice, settings):
    from exports.services.webhooks import retry_countdown

    settings.ACCORD_WEBHOOK_RETRY_DELAYS = (10, 60, 300, 1800, 7200, 21600)
    waits = [retry_countdown(2) for _ in range(200)]
    assert 54 <= min(waits) < max(waits) <= 66
    assert len({round(w, 3) for w in waits}) > 100, "not one instant for every receiver"
    settings.ACCORD_WEBHOOK_RETRY_JITTER = 0
    assert retry_countdown(6) == 21600


def test_a_dead_url_ends_failed_after_the_configured_attempts(
    project, alice, django_capture_on_commit_callbacks, countdowns
):
    webhook_create(project=project, url=closed_port_url(), created_by=alice)
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = webhooks_emit_version_ready(version=ready_version(project))

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == len(DELAYS) + 1 == len(delivery.attempt_log)
    assert all(e["status_code"] is None for e in delivery.attempt_log)
    assert all(e["error"].startswith("Could not connect:") for e in delivery.attempt_log)
    assert delivery.next_attempt_at is None and delivery.delivered_at is None
    assert len(countdowns) == 4, "the first task and three retries, then no more"
    assert webhook_deliver(delivery_id=delivery.pk).attempts == 4, "a failed one stays failed"


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(
    project, alice, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_WEBHOOK_TIMEOUT_SECONDS = 0.3
    settings.ACCORD_WEBHOOK_RETRY_DELAYS = ()
    with running_receiver(hang=threading.Event()) as receiver:
        hook(project, alice, receiver)
        with django_capture_on_commit_callbacks(execute=True):
            (delivery,) = webhooks_emit_version_ready(version=ready_version(project))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    (entry,) = delivery.attempt_log
    assert entry["error"] == "No answer within 0.3 s." and entry["status_code"] is None
    assert 0.3 <= entry["seconds"] < 2


def test_a_redirect_is_not_followed(project, alice, settings, django_capture_on_commit_callbacks):
    settings.ACCORD_WEBHOOK_RETRY_DELAYS = ()
    with running_receiver() as target, running_receiver(redirect_to="") as receiver:
        receiver.redirect_to = target.url
        hook(project, alice, receiver)
        with django_capture_on_commit_callbacks(execute=True):
            (delivery,) = webhooks_emit_version_ready(version=ready_version(project))
        assert target.count == 0
    delivery.refresh_from_db()
    (entry,) = delivery.attempt_log
    assert entry["status_code"] == 302 and delivery.status == DeliveryStatus.FAILED
    assert "redirects are not followed" in entry["error"] and target.url in entry["error"]


# --- once, and only once -----------------------------------------------------------------------


def test_a_delivered_delivery_is_never_sent_again(
    project, alice, django_capture_on_commit_callbacks
):
    with running_receiver() as receiver:
        hook(project, alice, receiver)
        with django_capture_on_commit_callbacks(execute=True):
            (delivery,) = webhooks_emit_version_ready(version=ready_version(project))
        assert receiver.count == 1
        for _ in range(2):
            assert webhook_deliver(delivery_id=delivery.pk).status == "delivered"
            webhook_delivery_task(delivery.pk)
        assert receiver.count == 1


def test_an_attempt_in_flight_is_not_made_again_until_its_worker_is_gone(project, alice):
    """Another worker claimed attempt 1 and is waiting for the receiver: a second task of the
    same delivery sends nothing. When that worker has been gone past its lease, the next task
    records the lost attempt and makes attempt 2."""
    with running_receiver() as receiver:
        webhook = hook(project, alice, receiver)
        delivery = WebhookDelivery.objects.create(
            webhook=webhook, event=EVENT_PING, event_id="ping:x", payload={"event": "ping"},
            attempts=1, next_attempt_at=timezone.now() + timedelta(seconds=60),
        )  # fmt: skip
        assert webhook_deliver(delivery_id=delivery.pk).attempts == 1
        assert receiver.count == 0

        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(event="dataset.version.ready")
        done = webhook_deliver(delivery_id=delivery.pk)
        assert receiver.count == 1 and done.status == DeliveryStatus.DELIVERED
    lost, made = done.attempt_log
    assert lost["attempt"] == 1 and lost["error"].startswith("No result: the worker stopped")
    assert made["attempt"] == 2 and made["status_code"] == 200


def test_a_last_attempt_whose_worker_died_ends_the_delivery_failed(project, alice):
    """A ping gets one attempt: when its worker is gone, nothing more is sent."""
    with running_receiver() as receiver:
        webhook = hook(project, alice, receiver)
        delivery = WebhookDelivery.objects.create(
            webhook=webhook, event=EVENT_PING, event_id="ping:x", payload={"event": "ping"},
            attempts=1, next_attempt_at=timezone.now() - timedelta(seconds=1),
        )  # fmt: skip
        done = webhook_deliver(delivery_id=delivery.pk)
        assert receiver.count == 0
    assert done.status == DeliveryStatus.FAILED and done.attempts == 1
    (lost,) = done.attempt_log
    assert lost["attempt"] == 1 and lost["status_code"] is None


def test_an_early_copy_of_a_retry_sends_nothing(project, alice):
    """Redis may hand out a task with a long countdown twice; the copy that comes hours early
    finds the retry not yet due."""
    with running_receiver() as receiver:
        webhook = hook(project, alice, receiver)
        delivery = WebhookDelivery.objects.create(
            webhook=webhook, event=EVENT_VERSION_READY, event_id="e:1", payload={}, attempts=1,
            attempt_log=[{"attempt": 1, "status_code": 500}],
            next_attempt_at=timezone.now() + timedelta(hours=2),
        )  # fmt: skip
        assert webhook_deliver(delivery_id=delivery.pk).attempts == 1
        assert receiver.count == 0
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        assert webhook_deliver(delivery_id=delivery.pk).status == DeliveryStatus.DELIVERED
        assert receiver.count == 1


def test_a_deleted_webhook_or_delivery_sends_nothing(project, alice):
    with running_receiver() as receiver:
        webhook = hook(project, alice, receiver)
        delivery = WebhookDelivery.objects.create(
            webhook=webhook, event=EVENT_VERSION_READY, event_id="e:1", payload={}
        )
        webhook_delete(webhook=webhook)
        assert webhook_deliver(delivery_id=delivery.pk) is None
        assert webhook_delivery_task(delivery.pk) is None
        assert receiver.count == 0


def test_a_deactivated_webhook_gets_no_more_retries(
    project, alice, django_capture_on_commit_callbacks
):
    with running_receiver(fail_first=1) as receiver:
        webhook = hook(project, alice, receiver)
        delivery = WebhookDelivery.objects.create(
            webhook=webhook, event=EVENT_VERSION_READY, event_id="e:1", payload={}
        )
        webhook_deactivate(webhook=webhook)
        done = webhook_deliver(delivery_id=delivery.pk)
        assert receiver.count == 0
    assert done.status == DeliveryStatus.FAILED
    assert done.attempt_log[0]["error"] == "Not sent: the webhook was deactivated."


# --- ping and redelivery -----------------------------------------------------------------------


def test_a_ping_is_sent_once_signed_even_to_an_inactive_webhook(
    project, alice, django_capture_on_commit_callbacks, countdowns
):
    with running_receiver() as receiver:
        webhook = hook(project, alice, receiver)
        webhook_deactivate(webhook=webhook)
        with django_capture_on_commit_callbacks(execute=True):
            ping = webhook_ping(webhook=webhook)
        (call,) = receiver.calls
    assert call.verified and call.headers["X-Accord-Event"] == "ping"
    assert call.json["event"] == "ping" and call.json["webhook"]["id"] == webhook.pk
    ping.refresh_from_db()
    assert ping.status == DeliveryStatus.DELIVERED

    with running_receiver(fail_first=5) as receiver:
        webhook_update(webhook=webhook, url=receiver.url, is_active=True)
        receiver.secret = webhook.secret
        with django_capture_on_commit_callbacks(execute=True):
            failed = webhook_ping(webhook=webhook)
        assert receiver.count == 1, "a ping is not retried"
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.FAILED and failed.attempts == 1


def test_a_lead_redelivers_a_finished_delivery_as_a_new_one(
    project, alice, django_capture_on_commit_callbacks
):
    with running_receiver(fail_first=4) as receiver:
        webhook = hook(project, alice, receiver)
        with django_capture_on_commit_callbacks(execute=True):
            (first,) = webhooks_emit_version_ready(version=ready_version(project))
        first.refresh_from_db()
        assert first.status == DeliveryStatus.FAILED and receiver.count == 4

        with django_capture_on_commit_callbacks(execute=True):
            again = webhook_redeliver(delivery=first)
        again.refresh_from_db()
        assert again.status == DeliveryStatus.DELIVERED and receiver.count == 5
        assert again.event_id == f"{first.event_id}:redelivery:1"
        assert redelivery_number(again) == 1 and redelivery_number(first) is None
        assert receiver.calls[-1].json == first.payload, "the same event, the same event_id"
        assert receiver.calls[-1].headers["X-Accord-Delivery"] == str(again.pk)

        with django_capture_on_commit_callbacks(execute=True):
            third = webhook_redeliver(delivery=again)
        assert third.event_id == f"{first.event_id}:redelivery:2"
        assert first.attempt_log == WebhookDelivery.objects.get(pk=first.pk).attempt_log

    pending = WebhookDelivery.objects.create(
        webhook=webhook, event=EVENT_VERSION_READY, event_id="e:9", payload={}
    )
    with pytest.raises(Conflict, match="still being delivered"):
        webhook_redeliver(delivery=pending)
    webhook_deactivate(webhook=webhook)
    with pytest.raises(Conflict, match="inactive"):
        webhook_redeliver(delivery=first)


def test_the_readmes_recipe_checks_a_real_call(project, alice, django_capture_on_commit_callbacks):
    """The README's six lines, run as they are printed, accept a call Accord made and refuse it
    altered, with another secret, or too old."""
    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text()
    section = readme[readme.index("**Checking a call**") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the README's own code
    readme_verify = namespace["verify"]
    with running_receiver() as receiver:
        webhook = hook(project, alice, receiver)
        with django_capture_on_commit_callbacks(execute=True):
            webhook_ping(webhook=webhook)
        (call,) = receiver.calls
    assert readme_verify(webhook.secret, call.headers, call.body)
    assert not readme_verify(webhook.secret, call.headers, call.body + b" ")
    assert not readme_verify("whsec_other", call.headers, call.body)
    then = str(int(call.headers["X-Accord-Timestamp"]) - 600)
    signed_then = webhook_sign(secret=webhook.secret, timestamp=then, body=call.body)
    replayed = {**call.headers, "X-Accord-Timestamp": then, "X-Accord-Signature": signed_then}
    assert not readme_verify(webhook.secret, replayed, call.body), "ten minutes old"
    assert readme_verify(webhook.secret, replayed, call.body, tolerance=900)


def test_the_secret_is_never_logged(project, alice, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    with running_receiver(fail_first=1) as receiver:
        webhook = hook(project, alice, receiver)
        with django_capture_on_commit_callbacks(execute=True):
            webhooks_emit_version_ready(version=ready_version(project))
            webhook_ping(webhook=webhook)
        assert receiver.count == 3
    assert "attempt 1" in caplog.text, "deliveries are logged"
    assert webhook.secret not in caplog.text
    delivery = WebhookDelivery.objects.filter(webhook=webhook).first()
    assert webhook.secret not in json.dumps(delivery.attempt_log)


def test_the_list_shows_each_webhooks_latest_delivery(project, alice, mallory):
    quiet, _ = webhook_create(project=project, url="http://a.example/x", created_by=alice)
    busy, _ = webhook_create(project=project, url="http://b.example/x", created_by=alice)
    theirs = make_project(lead=mallory, name="Theirs")
    webhook_create(project=theirs, url="http://c.example/x", created_by=mallory)
    for n, status in enumerate(("failed", "delivered")):
        WebhookDelivery.objects.create(
            webhook=busy, event=EVENT_VERSION_READY, event_id=f"e:{n}", payload={}, status=status
        )
    rows = {w.pk: w for w in webhooks_of_project(project=project)}
    assert set(rows) == {quiet.pk, busy.pk}
    assert rows[quiet.pk].last_delivery_status is None
    assert rows[busy.pk].last_delivery_status == "delivered"


# --- a real worker -----------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_after_retrying_with_the_configured_backoff(
    transactional_db: None, celery_worker_process: str, alice: Any
) -> None:
    """The worker process makes the attempts (through Redis, or files on the embedded default):
    the receiver fails twice, and the calls come at least the configured waits apart."""
    project = make_project(lead=alice, name="Worker webhooks")
    with running_receiver(fail_first=2) as receiver:
        hook(project, alice, receiver)
        with transaction.atomic():
            (delivery,) = webhooks_emit_version_ready(version=ready_version(project))

        def delivered() -> WebhookDelivery | None:
            row = WebhookDelivery.objects.get(pk=delivery.pk)
            return row if row.status != DeliveryStatus.PENDING else None

        done: WebhookDelivery = wait_for(delivered, timeout=60)
        assert done.status == DeliveryStatus.DELIVERED, done.attempt_log
        assert receiver.count == 3 and all(call.verified for call in receiver.calls)
        gaps = [b.at - a.at for a, b in zip(receiver.calls, receiver.calls[1:], strict=False)]
    assert [entry["status_code"] for entry in done.attempt_log] == [500, 500, 200]
    for gap, delay in zip(gaps, DELAYS, strict=False):
        assert gap >= delay * (1 - JITTER), (gaps, DELAYS)


def test_a_delivery_whose_task_was_lost_is_sent_by_the_sweep(
    project, alice, countdowns, django_capture_on_commit_callbacks
):
    """The broker was down when the delivery was queued, or a retry's task was lost: the
    sweep (beat, every five minutes) queues it again; deliveries with a task coming, or too
    young to tell, are left alone."""
    with running_receiver() as receiver:
        webhook = hook(project, alice, receiver)
        long_ago = timezone.now() - timedelta(minutes=30)

        def delivery(name: str, **fields: Any) -> WebhookDelivery:
            made = WebhookDelivery.objects.create(
                webhook=webhook, event="dataset.version.ready", event_id=name,
                payload={"event": "dataset.version.ready"}, **fields,
            )  # fmt: skip
            WebhookDelivery.objects.filter(pk=made.pk).update(created_at=long_ago)
            return made

        never_sent = delivery("never-sent")
        retry_lost = delivery(
            "retry-lost", attempts=1, next_attempt_at=long_ago,
            attempt_log=[{"attempt": 1, "status_code": 500}],
        )  # fmt: skip
        due_soon = delivery("due-soon", attempts=1, next_attempt_at=timezone.now(),
                            attempt_log=[{"attempt": 1, "status_code": 500}])  # fmt: skip
        young = WebhookDelivery.objects.create(
            webhook=webhook, event="dataset.version.ready", event_id="young", payload={}
        )

        with django_capture_on_commit_callbacks(execute=True):
            queued = webhook_deliveries_sweep_task()

        assert queued == 2
        assert sorted(pk for pk, _ in countdowns) == sorted([never_sent.pk, retry_lost.pk])
        assert receiver.count == 2
        for sent in (never_sent, retry_lost):
            assert WebhookDelivery.objects.get(pk=sent.pk).status == DeliveryStatus.DELIVERED
        for left in (due_soon, young):
            assert WebhookDelivery.objects.get(pk=left.pk).status == DeliveryStatus.PENDING
