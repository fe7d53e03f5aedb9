"""Dataset versions: immutable files built from a project's labels of record, and the webhooks
told when one is ready.

- `DatasetVersion`: one build of a frozen spec (which items, which fields, the splits, the
  salt, the formats) into files; a job row while it builds, numbered v1, v2, ... when it
  becomes ready, and never changed after. A build over labels that have not changed since the
  latest version of the same spec ends as "unchanged", pointing at that version, with no files
  and no number of its own.
- `DatasetFile`: one file of a ready version (data files, `manifest.json`, the dataset card,
  the Croissant metadata), with its sha256 and size, stored through Django's storage API.
- `Webhook` and `WebhookDelivery`: URLs a lead registers to be called, signed with an HMAC
  secret, when a version is ready; every attempt at a delivery is recorded.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.jobs.models import Job
from projects.models import Project


class DatasetFormat(models.TextChoices):
    PARQUET = "parquet", "Parquet (zstd)"
    JSONL = "jsonl", "JSON Lines"
    CSV = "csv", "CSV"


class VersionOutcome(models.TextChoices):
    BUILT = "built", "Built"
    UNCHANGED = "unchanged", "Unchanged: same spec, same labels as an earlier version"


class DatasetVersion(Job):
    """A dataset version of a project (the module says what). `status` is the job's:
    succeeded means ready (or unchanged, by `outcome`).

    `spec` is the frozen spec (`exports.specs.DatasetSpec.as_json`) and `spec_hash` its sha256;
    `content_hash` is the sha256 over the rows' hashes in key order, which tells an unchanged
    build. `manifest` and `validation` copy what `manifest.json` says, for the pages and the
    API. Files live under `storage_prefix` in the default storage.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dataset_versions")
    # Given when the build becomes ready, under the project's row lock: v1, v2, ... without
    # gaps among ready versions; null while building, after a failure, and for an unchanged one.
    number = models.PositiveIntegerField(null=True, blank=True)
    name = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    spec = models.JSONField()
    spec_hash = models.CharField(max_length=64)
    # The latest ready version when this one became ready (lineage, validation and the frozen
    # test split); for an unchanged build, the version it is the same as.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    outcome = models.CharField(max_length=10, choices=VersionOutcome.choices, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    row_count = models.PositiveBigIntegerField(default=0)
    label_counts = models.JSONField(default=dict, blank=True)
    split_counts = models.JSONField(default=dict, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    validation = models.JSONField(default=dict, blank=True)
    storage_prefix = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "number"],
                condition=Q(number__isnull=False),
                name="dataset_version_unique_number",
            ),
            models.CheckConstraint(
                condition=Q(number__isnull=True) | Q(status="succeeded", outcome="built"),
                name="dataset_version_number_when_built",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status", "-number"], name="dataset_version_latest")
        ]

    def __str__(self) -> str:
        return f"{self.label} of project {self.project_id}"

    @property
    def label(self) -> str:
        """ "v3", or "build 17" before it has a number."""
        return f"v{self.number}" if self.number is not None else f"build {self.pk}"

    @property
    def is_ready(self) -> bool:
        return self.status == "succeeded" and self.outcome == VersionOutcome.BUILT


class DatasetFile(models.Model):
    """One file of a ready version. `kind` is a data format, or one of the metadata files."""

    class Kind(models.TextChoices):
        PARQUET = "parquet", "Parquet"
        JSONL = "jsonl", "JSON Lines"
        CSV = "csv", "CSV"
        MANIFEST = "manifest", "manifest.json"
        CARD = "card", "Dataset card (README.md)"
        CROISSANT = "croissant", "Croissant metadata (JSON-LD)"
        MEDIA = "media", "An image the rows point to"

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255, help_text="Path within the version, e.g. data.parquet")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    content_type = models.CharField(max_length=100)
    storage_name = models.CharField(max_length=500, help_text="Name in the default storage.")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["version", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "name"], name="dataset_file_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} of version {self.version_id}"


class Webhook(models.Model):
    """A URL called when one of the project's dataset versions is ready."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    # Signs each delivery (HMAC-SHA256 of the body); shown to the lead once, when made.
    secret = models.CharField(max_length=100)
    events = models.CharField(max_length=200, default="dataset.version.ready")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]

    def __str__(self) -> str:
        return f"{self.url} (project {self.project_id})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed after every retry"


class WebhookDelivery(models.Model):
    """One event sent to one webhook: the body as sent, and how each attempt went. Unique per
    (webhook, event id), so that an event emitted twice is delivered once."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=50)
    event_id = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # Each attempt: {"at", "status_code", "error", "seconds"}.
    attempt_log = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "event_id"], name="webhook_delivery_once_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} to webhook {self.webhook_id} ({self.status})"
