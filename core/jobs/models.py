"""The abstract job row that every kind of long work subclasses."""

from __future__ import annotations

from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED)


class Job(models.Model):
    """Status, phase and progress of one piece of long work, written by its run as it goes so
    that the UI, the API and a CLI can follow it.

    `progress` of `total` counts the current phase's units (rows, items, events); `total` is
    None while unknown. `errors` holds the first problems found (each a dict with location,
    field, value, message and text) and `error_count` how many there were. `heartbeat_at` is
    written with every progress write: a running job whose heartbeat stopped lost its worker
    (see `core.jobs.services.job_is_stalled`).
    """

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    phase = models.CharField(max_length=40, blank=True)
    progress = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def percent(self) -> int | None:
        """How far the current phase is, 0-100, or None while its total is unknown."""
        if self.status == JobStatus.SUCCEEDED:
            return 100
        if self.total:
            return min(100, round(100 * self.progress / self.total))
        return None
