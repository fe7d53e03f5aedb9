"""The fields every job shows in the API, after its own (inputs and counts)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.jobs.services import job_is_stalled

JOB_FIELDS = [
    "status", "phase", "progress", "total", "percent", "error_count", "errors", "message",
    "attempts", "is_finished", "is_stalled", "created_at", "queued_at", "started_at",
    "heartbeat_at", "finished_at",
]  # fmt: skip


class JobSerializerMixin(serializers.Serializer[Any]):
    """Declares the computed job fields; a kind's ModelSerializer lists
    `[*its_fields, *JOB_FIELDS]` in its Meta."""

    is_finished = serializers.BooleanField(read_only=True)
    is_stalled = serializers.SerializerMethodField(
        help_text="Running with no progress (or pending with no worker) for "
        "ACCORD_JOB_STALLED_SECONDS: its worker is gone, and it may be retried."
    )
    percent = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="0-100 of the current phase; null if unknown."
    )

    def get_is_stalled(self, job: Any) -> bool:
        return job_is_stalled(job)
