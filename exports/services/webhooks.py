"""Webhooks: URLs a lead registers so that a system of theirs hears when one of the project's
dataset versions is ready. Each call is signed with the webhook's secret, retried with backoff
when it fails, and every attempt is recorded.

An event becomes one `WebhookDelivery` per active webhook of the project that listens to it,
unique per (webhook, event id): an event emitted twice is delivered once. `webhook_deliver` makes
one attempt at a delivery (the Celery task `exports.tasks.webhook_delivery_task` calls it); a
failed attempt schedules the next one after the wait ACCORD_WEBHOOK_RETRY_DELAYS gives for it,
moved by up to ACCORD_WEBHOOK_RETRY_JITTER of itself, and the delivery has failed after the last.

What a receiver gets: a POST whose body is the event as JSON (UTF-8), with the headers
    Content-Type: application/json
    User-Agent: Accord-Webhooks/<Accord's version>
    X-Accord-Event: dataset.version.ready (or ping)
    X-Accord-Delivery: <the delivery's id, the same on every attempt of it>
    X-Accord-Timestamp: <Unix seconds when this attempt was signed>
    X-Accord-Signature: sha256=<hex HMAC-SHA256, keyed with the secret, of the bytes
                        f"{timestamp}.".encode() + body>
A receiver verifies the signature over the raw body it received (before parsing it), compares it
in constant time and refuses a timestamp more than a few minutes old (a replay); the README shows
it in Python. A 2xx answer within ACCORD_WEBHOOK_TIMEOUT_SECONDS is a delivery; anything else (any
other status, a redirect, which is not followed, a timeout, a refused connection) is a failed
attempt. The body's `event_id` is the same for every delivery of an event, a lead's redelivery
included: a receiver that must act once per event dedupes on it.

The secret is stored as it was made: Accord must sign with it, so a hash would not do, and there
is no key to encrypt it with that would not sit beside it (SECRET_KEY is in the same settings).
It is shown once, when the webhook is made, and never again: not in the pages, the API or logs.

URLs: http and https only, with no user name or password in them. Loopback and private addresses
(127.0.0.1, 10.0.0.0/8, a host name on the local network) are allowed on purpose: on-premises
receivers live there, and so do the tests. So a lead can make Accord's worker POST to a service on
Accord's own network; what it sends is only the signed event, and what it receives is kept only
as a short excerpt of the answer in the delivery's log, which only leads see.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from core.errors import Conflict
from core.secrets import secret_new
from exports.models import (
    DatasetFile,
    DatasetVersion,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
)
from projects.models import Project
from projects.services.archive import project_ensure_writable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

EVENT_VERSION_READY = "dataset.version.ready"
EVENT_PING = "ping"
# What a webhook may listen to; a ping is sent only when a lead asks for one.
EVENTS = (EVENT_VERSION_READY,)
SECRET_PREFIX = "whsec_"
REDELIVERY = ":redelivery:"
# How much of a receiver's answer the delivery's log keeps, to show the lead what went wrong.
RESPONSE_EXCERPT_CHARS = 300
# A task that arrives this much before its attempt is due is a copy the broker handed out twice,
# and is dropped (the one that is due comes); less than this is a clock apart, and counts.
EARLY_TOLERANCE = timedelta(seconds=5)


# --- settings ----------------------------------------------------------------------------------


def retry_delays() -> tuple[float, ...]:
    return tuple(float(seconds) for seconds in settings.ACCORD_WEBHOOK_RETRY_DELAYS)


def max_attempts(event: str) -> int:
    """A ping is tried once, so that a lead sees its result at once; an event, once and then
    once after each retry delay."""
    return 1 if event == EVENT_PING else len(retry_delays()) + 1


def retry_countdown(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 for the first), with jitter."""
    delay = retry_delays()[attempt - 1]
    jitter = float(settings.ACCORD_WEBHOOK_RETRY_JITTER)
    return max(0.0, delay * (1 + random.uniform(-jitter, jitter)))


def public_url(path: str) -> str:
    """An absolute URL of a path of this Accord, as its users reach it (ACCORD_PUBLIC_URL)."""
    return settings.ACCORD_PUBLIC_URL.rstrip("/") + path


@cache
def user_agent() -> str:
    try:
        accord = package_version("accord")
    except PackageNotFoundError:  # run from a copy that was not pip-installed
        accord = "unknown"
    return f"Accord-Webhooks/{accord}"


# --- webhooks ----------------------------------------------------------------------------------


def url_clean(url: str) -> str:
    """An http(s) URL with a host, without credentials, as a receiver's address. Loopback and
    private hosts are allowed (the module says why)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises on a port that is not a number from 0 to 65535
    except ValueError as error:
        raise ValidationError({"url": f"This is not a URL: {error}."}) from error
    if parts.scheme not in ("http", "https"):
        raise ValidationError(
            {"url": "Give an http:// or https:// URL, e.g. https://ci.example.com/accord-hook."}
        )
    if not parts.hostname or any(c.isspace() for c in url):
        raise ValidationError({"url": "This URL has no host name, or has spaces in it."})
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            {
                "url": "Put no user name or password in the URL: it would be shown to every "
                "lead. The signature tells your receiver that a call comes from Accord."
            }
        )
    if len(url) > Webhook._meta.get_field("url").max_length:  # type: ignore[operator]
        raise ValidationError({"url": "This URL is longer than 500 characters."})
    return url


def events_clean(events: Iterable[str]) -> str:
    chosen = sorted({event.strip() for event in events if event.strip()})
    if not chosen:
        raise ValidationError({"events": "Choose at least one event."})
    unknown = [event for event in chosen if event not in EVENTS]
    if unknown:
        raise ValidationError(
            {"events": f"Unknown event {unknown[0]!r}; a webhook can listen to {list(EVENTS)}."}
        )
    return ",".join(chosen)


def webhook_events(webhook: Webhook) -> list[str]:
    return [event for event in webhook.events.split(",") if event]


def webhook_create(
    *, project: Project, url: str, events: Iterable[str] = EVENTS, created_by: User | None
) -> tuple[Webhook, str]:
    """Register a webhook and return it with its secret, which the caller shows once. The
    caller has checked that `created_by` leads the project."""
    project_ensure_writable(project=project)
    secret = secret_new(SECRET_PREFIX)
    webhook = Webhook.objects.create(
        project=project, url=url_clean(url), events=events_clean(events), secret=secret,
        created_by=created_by,
    )  # fmt: skip
    return webhook, secret


def webhook_update(
    *, webhook: Webhook, url: str | None = None, events: Iterable[str] | None = None,
    is_active: bool | None = None,
) -> Webhook:  # fmt: skip
    """Change a webhook's URL, events or whether it is active; None leaves a field as it is.
    Deliveries already made keep going to the webhook as it is when each attempt is made (a
    new URL gets the retries). Deactivating is allowed in an archived project, as taking access
    away is; anything else is a change it refuses."""
    new = {
        "url": webhook.url if url is None else url_clean(url),
        "events": webhook.events if events is None else events_clean(events),
        "is_active": webhook.is_active if is_active is None else is_active,
    }
    changed = [name for name, value in new.items() if getattr(webhook, name) != value]
    only_deactivating = changed == ["is_active"] and not new["is_active"]
    if changed and not only_deactivating:
        project_ensure_writable(project=webhook.project)
    if changed:
        for name in changed:
            setattr(webhook, name, new[name])
        webhook.save(update_fields=changed)
    return webhook


def webhook_deactivate(*, webhook: Webhook) -> Webhook:
    """Stop calling the webhook: no new deliveries, and the retries of pending ones end without
    being sent. It keeps its secret and its log, and can be made active again."""
    return webhook_update(webhook=webhook, is_active=False)


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete the webhook and its deliveries' log. A retry already queued finds nothing, and
    sends nothing."""
    webhook.delete()


def webhooks_of_project(*, project: Project) -> QuerySet[Webhook]:
    """The project's webhooks, each with its latest delivery's id, status, event and time
    (`last_delivery_*`, None before the first)."""
    latest = WebhookDelivery.objects.filter(webhook=OuterRef("pk")).order_by("-id")
    return (
        Webhook.objects.filter(project=project)
        .select_related("created_by")
        .annotate(
            last_delivery_id=Subquery(latest.values("id")[:1]),
            last_delivery_status=Subquery(latest.values("status")[:1]),
            last_delivery_event=Subquery(latest.values("event")[:1]),
            last_delivery_at=Subquery(latest.values("created_at")[:1]),
        )
        .order_by("id")
    )


# --- events ------------------------------------------------------------------------------------


def _version_links(version: DatasetVersion) -> dict[str, str]:
    """Where the datasets API serves the version (by id, which never changes), its manifest and
    its files (a file's URL is the `files` link followed by the file's name)."""
    base = f"/api/v1/projects/{version.project_id}/datasets/versions/{version.pk}/"
    return {
        "url": public_url(base),
        "manifest_url": public_url(f"{base}manifest/"),
        "files_url": public_url(f"{base}files/"),
    }


def version_ready_payload(*, version: DatasetVersion, event_id: str) -> dict[str, Any]:
    """The body of `dataset.version.ready`: the project, the version with its counts and hashes,
    and its files with their sizes, sha256 and download URLs (the pipeline's token fetches
    them). The version's images are listed in its manifest, not here: there may be millions."""
    links = _version_links(version)
    files = list(
        version.files.exclude(kind=DatasetFile.Kind.MEDIA).order_by("id").values(
            "name", "kind", "size", "sha256"
        )
    )  # fmt: skip
    media = version.files.filter(kind=DatasetFile.Kind.MEDIA).count()
    project = version.project
    parent = version.parent
    return {
        "event": EVENT_VERSION_READY,
        "event_id": event_id,
        "created_at": timezone.now().isoformat(),
        "project": {"id": project.pk, "name": project.name},
        "version": {
            "id": version.pk,
            "number": version.number,
            "label": version.label,
            "name": version.name,
            "row_count": version.row_count,
            "content_hash": version.content_hash,
            "spec_hash": version.spec_hash,
            "parent": parent.number if parent is not None else None,
            "ready_at": version.ready_at.isoformat() if version.ready_at else None,
            "url": links["url"],
            "manifest_url": links["manifest_url"],
            "files": [{**file, "url": links["files_url"] + file["name"]} for file in files],
            "media_files": media,
        },
    }


def webhooks_emit_version_ready(*, version: DatasetVersion) -> list[WebhookDelivery]:
    """Tell the project's active webhooks that listen to `dataset.version.ready` that `version`
    is ready: one delivery each, sent once the caller's transaction commits. Returns the
    deliveries made now; a version already announced makes none (the event id is the
    version's), and so does one that is not ready (unchanged, failed, building).

    Call it in the transaction that makes the version ready, so that the deliveries commit with
    it (or after it has committed)."""
    if not version.is_ready:
        return []
    hooks = [
        webhook
        for webhook in Webhook.objects.filter(project_id=version.project_id, is_active=True)
        if EVENT_VERSION_READY in webhook_events(webhook)
    ]
    if not hooks:
        return []
    event_id = f"{EVENT_VERSION_READY}:{version.pk}"
    payload = version_ready_payload(version=version, event_id=event_id)
    made = []
    for webhook in hooks:
        # Race: two emits of one version insert the same (webhook, event id); the unique
        # constraint lets one in, and get_or_create reads the other's row.
        delivery, created = WebhookDelivery.objects.get_or_create(
            webhook=webhook, event_id=event_id,
            defaults={"event": EVENT_VERSION_READY, "payload": payload},
        )  # fmt: skip
        if created:
            _enqueue_on_commit(delivery.pk)
            made.append(delivery)
    return made


def webhook_ping(*, webhook: Webhook) -> WebhookDelivery:
    """Send the webhook a `ping` now (when the transaction commits), tried once, whether or not
    it is active: a lead checks a receiver with it before relying on it."""
    event_id = f"{EVENT_PING}:{uuid.uuid4().hex}"
    project = webhook.project
    payload = {
        "event": EVENT_PING,
        "event_id": event_id,
        "created_at": timezone.now().isoformat(),
        "project": {"id": project.pk, "name": project.name},
        "webhook": {"id": webhook.pk, "url": webhook.url, "events": webhook_events(webhook)},
    }
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event=EVENT_PING, event_id=event_id, payload=payload
    )
    _enqueue_on_commit(delivery.pk)
    return delivery


def webhook_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a finished delivery's event again, as a new delivery with its own attempts: the
    same body (the same `event_id`), to the webhook's URL and with its secret as they are now.
    Refused while the delivery is still pending (its retries are running) and for an inactive
    webhook."""
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict(
            f"Delivery {delivery.pk} is still being delivered (attempt {delivery.attempts} of "
            f"{max_attempts(delivery.event)} so far); redeliver it once it has finished."
        )
    root = delivery.event_id.split(REDELIVERY)[0]
    with transaction.atomic():
        # Lock the webhook so that two redeliveries of one event number themselves in turn.
        webhook = Webhook.objects.select_for_update().get(pk=delivery.webhook_id)
        if not webhook.is_active and delivery.event != EVENT_PING:
            raise Conflict("This webhook is inactive: make it active to redeliver to it.")
        earlier = WebhookDelivery.objects.filter(
            webhook=webhook, event_id__startswith=root + REDELIVERY
        ).count()
        try:
            with transaction.atomic():
                again = WebhookDelivery.objects.create(
                    webhook=webhook, event=delivery.event, payload=delivery.payload,
                    event_id=f"{root}{REDELIVERY}{earlier + 1}",
                )  # fmt: skip
        except IntegrityError as error:  # SQLite: another redelivery took the number first
            raise Conflict("This event was redelivered just now; see the newest delivery.") from (
                error
            )
        _enqueue_on_commit(again.pk)
    return again


def redelivery_number(delivery: WebhookDelivery) -> int | None:
    """1 for the first redelivery of an event, 2 for the next; None for its first delivery."""
    _, _, number = delivery.event_id.partition(REDELIVERY)
    return int(number) if number.isdigit() else None


SWEEP_BATCH = 1000


def _enqueue_on_commit(delivery_id: int, countdown: float | None = None) -> None:
    from exports.tasks import webhook_delivery_task  # the task module imports this one

    if countdown is None:
        transaction.on_commit(lambda: webhook_delivery_task.apply_async((delivery_id,)))
    else:
        transaction.on_commit(
            lambda: webhook_delivery_task.apply_async((delivery_id,), countdown=countdown)
        )


SWEEP_GRACE = timedelta(minutes=5)


def webhook_deliveries_sweep(*, now: datetime | None = None) -> int:
    """Queue again the pending deliveries no task is coming for: one never attempted a while
    after it was made (its task was lost with a broker that was down when it committed), or
    one whose retry, or whose attempt's lease, ran out a while ago (its task was lost). Run by
    beat every few minutes; a task for a delivery that has one coming anyway does nothing (the
    attempt is claimed, `webhook_deliver`). Returns how many were queued."""
    now = now or timezone.now()
    before = now - SWEEP_GRACE
    lost = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).filter(
        Q(next_attempt_at__isnull=True, attempts=0, created_at__lt=before)
        | Q(next_attempt_at__lt=before)
    )
    ids = list(lost.values_list("pk", flat=True)[:SWEEP_BATCH])
    for delivery_id in ids:
        _enqueue_on_commit(delivery_id)
    return len(ids)


# --- sending -----------------------------------------------------------------------------------


def webhook_sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """The X-Accord-Signature of a body sent at `timestamp` (Unix seconds, as sent)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def payload_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Answer:
    """How one attempt went: the status the receiver answered (None when it answered nothing),
    what went wrong (empty on a 2xx) and an excerpt of its body."""

    status_code: int | None
    error: str
    response: str

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the failed attempt it is: a receiver's address is the URL the
    lead gave, and a POST must not turn into a GET elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST once; never raises for what the network or the receiver does."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Answer(response.status, "", _read_excerpt(response))
    except urllib.error.HTTPError as error:
        excerpt = _read_excerpt(error) if error.fp else ""
        if 300 <= error.code < 400:
            where = error.headers.get("Location", "")
            message = f"The receiver answered {error.code}, a redirect to {where!r}; redirects "
            message += "are not followed: give the webhook its final URL."
        else:
            message = f"The receiver answered {error.code} {error.reason}."
        return Answer(error.code, message, excerpt)
    except TimeoutError:
        return Answer(None, f"No answer within {timeout:g} s.", "")
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            return Answer(None, f"No answer within {timeout:g} s.", "")
        return Answer(None, f"Could not connect: {error.reason}.", "")
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Answer(None, f"The connection failed: {type(error).__name__}: {error}.", "")


def _read_excerpt(response: Any) -> str:
    """The start of the receiver's answer; an answer whose body breaks off still counts by its
    status."""
    try:
        raw = response.read(RESPONSE_EXCERPT_CHARS * 4)
    except (OSError, http.client.HTTPException):
        return ""
    return raw.decode("utf-8", "replace")[:RESPONSE_EXCERPT_CHARS]


def _lease() -> timedelta:
    """How long an attempt in flight keeps others off its delivery; past it, the worker that
    made it is taken to be gone (killed mid-attempt) and the next task may try again."""
    return timedelta(seconds=2 * float(settings.ACCORD_WEBHOOK_TIMEOUT_SECONDS) + 60)


def _log_entry(
    attempt: int, at: Any, status_code: int | None, error: str, seconds: float | None,
    response: str = "",
) -> dict[str, Any]:  # fmt: skip
    return {
        "attempt": attempt, "at": at.isoformat(), "status_code": status_code, "error": error,
        "seconds": None if seconds is None else round(seconds, 3), "response": response,
    }  # fmt: skip


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Make one attempt at a delivery, record it, and schedule the next if it failed and
    attempts remain. Returns the delivery as it is afterwards (None if it was deleted).

    Safe to run twice, and at once: the attempt is claimed with a conditional UPDATE of the
    attempt count, so that two tasks of one delivery (a copy the broker handed out again, a
    worker's task redelivered) never send the same attempt, and a delivered or failed delivery is
    never sent again. No transaction is held while the request is out."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return delivery
    now = timezone.now()
    log: list[dict[str, Any]] = list(delivery.attempt_log)
    in_flight = delivery.attempts > len(log)
    if delivery.next_attempt_at is not None:
        if in_flight and delivery.next_attempt_at > now:
            return delivery  # another worker is making this attempt now
        if not in_flight and delivery.next_attempt_at > now + EARLY_TOLERANCE:
            return delivery  # an early copy of the retry that is due later
    if in_flight:
        # Its worker died mid-attempt (the lease ran out): the attempt counts, with no answer.
        lost_at = delivery.next_attempt_at - _lease() if delivery.next_attempt_at else now
        log.append(
            _log_entry(delivery.attempts, lost_at, None,
                       "No result: the worker stopped during this attempt.", None)
        )  # fmt: skip
    # Race: another task of this delivery read the same row; the UPDATE lets one of them in.
    unchanged = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
    )  # fmt: skip
    if in_flight and delivery.attempts >= max_attempts(delivery.event):
        unchanged.update(status=DeliveryStatus.FAILED, next_attempt_at=None, attempt_log=log)
        return WebhookDelivery.objects.filter(pk=delivery_id).first()
    attempt = delivery.attempts + 1
    if not unchanged.update(attempts=F("attempts") + 1, next_attempt_at=now + _lease()):
        return WebhookDelivery.objects.filter(pk=delivery_id).first()

    webhook = delivery.webhook
    started = time.monotonic()
    if not webhook.is_active and delivery.event != EVENT_PING:
        answer = Answer(None, "Not sent: the webhook was deactivated.", "")
        seconds = None
    else:
        answer = _attempt(delivery, webhook)
        seconds = time.monotonic() - started
    log.append(_log_entry(attempt, now, answer.status_code, answer.error, seconds, answer.response))

    fields: dict[str, Any] = {"attempt_log": log, "next_attempt_at": None}
    countdown = None
    if answer.delivered:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=timezone.now())
    elif attempt >= max_attempts(delivery.event) or not webhook.is_active:
        fields.update(status=DeliveryStatus.FAILED)
    else:
        countdown = retry_countdown(attempt)
        fields.update(next_attempt_at=timezone.now() + timedelta(seconds=countdown))
    recorded = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=attempt
    ).update(**fields)
    outcome = "delivered" if answer.delivered else (answer.error or "failed")
    logger.info(
        "Webhook %s, delivery %s (%s), attempt %s: %s",
        webhook.pk, delivery.pk, delivery.event, attempt, outcome,
    )  # fmt: skip
    if not recorded:
        # Only when this attempt outlived its lease and another task took the next one.
        logger.warning("Delivery %s: attempt %s was not recorded (taken over).", delivery.pk,
                       attempt)  # fmt: skip
    elif countdown is not None:
        _enqueue_on_commit(delivery.pk, countdown=countdown)
    return WebhookDelivery.objects.filter(pk=delivery_id).first()


def _attempt(delivery: WebhookDelivery, webhook: Webhook) -> Answer:
    body = payload_body(delivery.payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent(),
        "X-Accord-Event": delivery.event,
        "X-Accord-Delivery": str(delivery.pk),
        "X-Accord-Timestamp": timestamp,
        "X-Accord-Signature": webhook_sign(secret=webhook.secret, timestamp=timestamp, body=body),
    }
    return http_post(webhook.url, body, headers, float(settings.ACCORD_WEBHOOK_TIMEOUT_SECONDS))


def deliveries_of_webhook(*, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(webhook=webhook).order_by("-id")
