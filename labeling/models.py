"""Who holds which item (assignments and leases) and what they said (annotations).

Annotations are the unit of lineage: a dataset row names the annotation ids it came from, so an
annotation is never rewritten silently. Every change of value appends an AnnotationRevision.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.jobs.models import Job
from projects.models import Item, Label, Project


class AssignmentStatus(models.TextChoices):
    ASSIGNED = "assigned", "Assigned by a lead"
    LEASED = "leased", "Leased"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Lease expired and reclaimed"


class Assignment(models.Model):
    """One rater's hold on one item: a lease (with an expiry), a lead's assignment (no expiry),
    or the record that the rater submitted or skipped it.

    Unique per (item, rater), so an item is never given twice to one rater. An expired lease is
    marked EXPIRED when the next claim in its project reclaims it, which frees the item's slot;
    the row stays so that a submit the rater's page sends late (after a lost connection) is
    recognised and accepted if a slot is still free.
    """

    # No single-column index on project, item and rater: the composite indexes below lead with
    # them, and every claim and submit writes a new version of the row into each index (its
    # status changes). Each redundant index cost every claim and submit an insertion, and
    # autovacuum a full pass. assigned_by has a partial index (only a lead's rows have one).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    # PROTECT, as for annotations: deleting a user would drop the rows that count their slots
    # (the items could then never reach k raters) and their skips. Deactivate users instead;
    # removing a member (labeling.members.membership_remove) gives their holds back.
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments",
        db_index=False,
    )  # fmt: skip
    status = models.CharField(max_length=10, choices=AssignmentStatus.choices)
    expires_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
    )  # fmt: skip
    skip_reason = models.CharField(max_length=500, blank=True)
    is_gold = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "rater"], name="assignment_unique_rater"),
            models.CheckConstraint(
                condition=~Q(status="leased") | Q(expires_at__isnull=False),
                name="assignment_lease_has_expiry",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "rater", "status", "id"], name="assignment_rater_status"
            ),
            models.Index(
                fields=["project", "expires_at"],
                condition=Q(status="leased"),
                name="assignment_lease_expiry",
            ),
            models.Index(fields=["rater", "updated_at"], name="assignment_rater_recent"),
            # For deleting a user (SET NULL): only a lead's assignments have one.
            models.Index(
                fields=["assigned_by"],
                condition=Q(assigned_by__isnull=False),
                name="assignment_assigned_by",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rater_id} on item {self.item_id}: {self.status}"


class Annotation(models.Model):
    """A rater's current label on an item, stored against the label schema so that a million of
    them read as integer codes without decoding JSON: `label` for a single-label project, one
    `AnnotationLabel` row per chosen label for a multi-label project (none: "none of these"),
    `rating` for a rating scale. `value` gives the API's shape (a label value, a sorted list of
    label values, or a number).

    Whether a gold item's annotation is right is not stored: it is judged against the item's
    current gold answer when asked (a lead may correct a gold answer).
    """

    # project and item: served by the composite indexes below, which lead with them.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="annotations", db_index=False
    )
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="annotations", db_index=False
    )
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    # RESTRICT: a label in use cannot be deleted (projects.services says so, and offers archiving);
    # the project can, with its annotations.
    # No index: every submit would pay for it, and only a label's deletion looks rows up by it.
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.RESTRICT, related_name="+", db_index=False
    )
    rating = models.IntegerField(null=True, blank=True)
    client_id = models.UUIDField(help_text="Id of the first submit, generated by the client.")
    time_spent_ms = models.PositiveIntegerField(default=0)
    revision = models.PositiveIntegerField(default=1)
    # The import that brought the annotation in from a file (None: labeled in Accord). Imported
    # labels are history: they count in the member's labeled total, never in labeled today.
    # RESTRICT: a job is not deleted from under its annotations, but goes with them when their
    # project is deleted. Indexed for imported rows only (that check when a job is deleted); a
    # label made in Accord pays nothing for it.
    import_job = models.ForeignKey(
        "AnnotationImportJob", null=True, blank=True, on_delete=models.RESTRICT,
        related_name="annotations", db_index=False,
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "rater"], name="annotation_unique_rater"),
            models.CheckConstraint(
                condition=Q(label__isnull=True) | Q(rating__isnull=True),
                name="annotation_label_or_rating",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "rater", "created_at"], name="annotation_rater_day"),
            # A project's annotations in id order: the annotations API's pages and the agreement
            # recompute's read, which would otherwise walk the primary key past other projects'.
            models.Index(fields=["project", "id"], name="annotation_project_order"),
            models.Index(
                fields=["import_job"],
                condition=Q(import_job__isnull=False),
                name="annotation_import_job",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rater_id} on item {self.item_id}: {self.value}"

    @property
    def value(self) -> Any:
        """The value in the API's shape. Load `label` with select_related and `chosen__label`
        with prefetch_related when reading many; a service that has just written the value sets
        it (`value_known`) and nothing is read."""
        known = self.__dict__.get("_value", _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        if self.rating is not None:
            return self.rating
        if self.label_id is not None:
            assert self.label is not None
            return self.label.value
        return sorted(chosen.label.value for chosen in self.chosen.all())

    def value_known(self, value: Any) -> None:
        self._value = value


_UNKNOWN = object()


class AnnotationLabel(models.Model):
    """One label chosen in a multi-label annotation."""

    # Served by annotation_label_unique, which leads with it.
    annotation = models.ForeignKey(
        Annotation, on_delete=models.CASCADE, related_name="chosen", db_index=False
    )
    label = models.ForeignKey(Label, on_delete=models.RESTRICT, related_name="+", db_index=False)

    class Meta:
        verbose_name = "chosen label"
        verbose_name_plural = "multi-label annotations"  # as `labels_in_use` names them
        constraints = [
            models.UniqueConstraint(fields=["annotation", "label"], name="annotation_label_unique"),
        ]

    def __str__(self) -> str:
        return f"annotation {self.annotation_id}: label {self.label_id}"


class AnnotationRevision(models.Model):
    """Every value an annotation has held, with the client id of the submit that set it. A
    retried submit finds its client id here and creates nothing."""

    # Served by annotation_revision_unique, which leads with it.
    annotation = models.ForeignKey(
        Annotation, on_delete=models.CASCADE, related_name="revisions", db_index=False
    )
    revision = models.PositiveIntegerField()
    value = models.JSONField()
    client_id = models.UUIDField(unique=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation", "revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "revision"], name="annotation_revision_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"annotation {self.annotation_id} r{self.revision}"


class AnnotationImportFormat(models.TextChoices):
    AUTO = "auto", "Detect from the file name"
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"


class AnnotationImportJob(Job):
    """An import of annotations made elsewhere (a crowdsourcing platform, another tool) from
    one file: a row with status and progress, run by Celery (`labeling.imports`).

    `created_count`, `changed_count` and `external_rater_count` grow with each batch, in the
    batch's own transaction, so that a run that stopped midway and the retry that finishes it
    count every annotation once. `closed_count` is counted afresh by each attempt, and
    `unchanged_count` is the rest of the file's rows once the job succeeds.
    """

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="annotation_import_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, default="ui")  # ui, api, cli
    file = models.FileField(upload_to="annotation-imports/", max_length=255)
    original_name = models.CharField(max_length=255)
    format = models.CharField(
        max_length=10, choices=AnnotationImportFormat.choices, default=AnnotationImportFormat.AUTO
    )
    row_count = models.PositiveIntegerField(default=0, help_text="Valid rows in the file.")
    created_count = models.PositiveIntegerField(default=0, help_text="New annotations.")
    changed_count = models.PositiveIntegerField(
        default=0, help_text="Annotations whose value changed: a new revision each."
    )
    unchanged_count = models.PositiveIntegerField(
        default=0, help_text="Rows whose annotation already had this value: nothing written."
    )
    closed_count = models.PositiveIntegerField(
        default=0, help_text="Rows left out because a lead has resolved their item."
    )
    external_rater_count = models.PositiveIntegerField(
        default=0, help_text="External raters this import added to the project."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "annotation import"

    def __str__(self) -> str:
        return f"annotation import {self.pk} of {self.original_name} ({self.status})"
