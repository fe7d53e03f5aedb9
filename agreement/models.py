"""Where each item's raters stand, the label of record, conflicts and their resolutions.

- `ItemAgreement`: the consensus of an item's current annotations under the project's rule, how
  far its raters agree, and whether the rule is met; kept by every change of the item's labels
  (`agreement.services.evaluation`) and by a full recompute.
- `LabelOfRecord`: the item's final label, with its source (a lead's resolution, the gold answer,
  or the raters' consensus), method, confidence and the annotations (and their revisions) it
  rests on. Ambiguous items and items in conflict have none.
- `Conflict` and `Resolution`: an item whose labels are all in and that fails the rule, and every
  decision a lead takes on it (who, when, from what to what), reopenable.
- `ItemEvent`: the item's agreement history, in words a lead reads.
- `ProjectAgreement`, `RaterQuality` and `AgreementRecompute`: a project's figures from its last
  full recompute (a job row), and the label model fitted then.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.jobs.models import Job
from projects.models import Item, Project


class Method(models.TextChoices):
    MAJORITY = "majority", "Majority vote"
    DAWID_SKENE = "dawid_skene", "Dawid-Skene"
    WEIGHTED = "weighted", "Gold-weighted vote"
    LEAD = "lead", "A lead's decision"
    GOLD = "gold", "Gold answer"


class ItemAgreement(models.Model):
    """The outcome of the latest evaluation of an item whose k labels are all in."""

    item = models.OneToOneField(
        Item, primary_key=True, on_delete=models.CASCADE, related_name="agreement"
    )
    # The item's project, copied for the per-project indexes: the item's key holds it, so no
    # key of its own (a recompute writes a row per item, and a key is a check per row).
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # The item's change counter this evaluation saw: a recompute that finds the counter moved
    # leaves the row to the live evaluation that moved it.
    change_count = models.PositiveBigIntegerField(default=0)
    n_annotations = models.PositiveSmallIntegerField()
    # Share of agreeing rater pairs on the item (P_i of Fleiss); null with fewer than two labels.
    observed = models.FloatField(null=True, blank=True)
    consensus = models.JSONField(null=True, blank=True, help_text="In the API's value shape.")
    method = models.CharField(max_length=12, choices=Method.choices)
    confidence = models.FloatField(null=True, blank=True)
    tie = models.BooleanField(default=False)
    passes = models.BooleanField(help_text="Meets the project's agreement rule.")
    # The two labels most chosen (single-label and ratings), "a | b" sorted: the conflict queue
    # filters by it.
    label_pair = models.CharField(max_length=300, blank=True)
    annotation_ids = models.JSONField(default=list)
    evaluated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["project", "passes", "observed"], name="agreement_item")]

    def __str__(self) -> str:
        return f"item {self.item_id}: {self.consensus} ({self.method})"


class LabelSource(models.TextChoices):
    RESOLUTION = "resolution", "A lead's resolution"
    GOLD = "gold", "Gold answer"
    CONSENSUS = "consensus", "Consensus of the raters"


class LabelOfRecord(models.Model):
    """An item's final label (DESIGN.md, "The label of record"): a lead's resolution, else the
    gold answer, else the raters' consensus when it meets the project's rule."""

    item = models.OneToOneField(
        Item, primary_key=True, on_delete=models.CASCADE, related_name="label_of_record"
    )
    # The item's project, copied for the per-project indexes: the item's key holds it, so no
    # key of its own (a recompute writes a row per item, and a key is a check per row).
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    value = models.JSONField(help_text="In the API's value shape.")
    source = models.CharField(max_length=12, choices=LabelSource.choices)
    method = models.CharField(max_length=12, choices=Method.choices)
    confidence = models.FloatField(null=True, blank=True)
    # {annotation id: revision} of the annotations it rests on (none for gold and for a lead's
    # choice made without them).
    annotations = models.JSONField(default=dict)
    resolution = models.ForeignKey(
        "Resolution", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "label of record"
        verbose_name_plural = "labels of record"
        indexes = [models.Index(fields=["project", "source"], name="label_of_record_source")]

    def __str__(self) -> str:
        return f"item {self.item_id}: {self.value} ({self.source})"


class ConflictStatus(models.TextChoices):
    OPEN = "open", "Open"
    WAITING = "waiting", "Waiting for one more rater"
    RESOLVED = "resolved", "Resolved by a lead"
    AMBIGUOUS = "ambiguous", "Marked ambiguous"
    SETTLED = "settled", "Settled: the raters agree now"


OPEN_STATUSES = (ConflictStatus.OPEN, ConflictStatus.WAITING)


class Conflict(models.Model):
    """An item whose labels are all in and that failed the project's rule: one row per item,
    which re-evaluations and a lead's decisions move between statuses."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="conflict")
    project = models.ForeignKey(  # the item's; no key of its own, as on ItemAgreement
        Project, on_delete=models.CASCADE, related_name="conflicts", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    status = models.CharField(
        max_length=10, choices=ConflictStatus.choices, default=ConflictStatus.OPEN
    )
    # Copied from the item's evaluation, so that the queue sorts and filters without a join.
    observed = models.FloatField(null=True, blank=True)
    label_pair = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    times_opened = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [
            models.Index(fields=["project", "status", "observed"], name="conflict_queue"),
        ]

    def __str__(self) -> str:
        return f"conflict on item {self.item_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ResolutionAction(models.TextChoices):
    RESOLVE = "resolve", "Chose the final label"
    MORE_RATERS = "more_raters", "Asked for one more rater"
    AMBIGUOUS = "ambiguous", "Marked ambiguous"
    REOPEN = "reopen", "Reopened"


class Resolution(models.Model):
    """One decision of a lead on a conflict, never changed afterwards: who, when, what the item's
    label of record was before and what it is after."""

    conflict = models.ForeignKey(Conflict, on_delete=models.CASCADE, related_name="resolutions")
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=12, choices=ResolutionAction.choices)
    value_before = models.JSONField(null=True, blank=True)
    value_after = models.JSONField(null=True, blank=True)
    status_before = models.CharField(max_length=10, choices=ConflictStatus.choices)
    status_after = models.CharField(max_length=10, choices=ConflictStatus.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} on item {self.conflict.item_id}"


class EventKind(models.TextChoices):
    CONFLICT = "conflict", "Became a conflict"
    AGREED = "agreed", "Agreed"
    SETTLED = "settled", "Conflict settled by a change of labels"
    REEVALUATED = "reevaluated", "Re-evaluated"
    RESOLUTION = "resolution", "A lead's decision"
    GOLD_MISSED = "gold_missed", "A rater missed the gold answer"


class ItemEvent(models.Model):
    """A line of an item's agreement history: what changed, why, and who did it."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The item's project, copied for the per-project indexes: the item's key holds it, so no
    # key of its own (a recompute writes a row per item, and a key is a check per row).
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=12, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
    )  # fmt: skip
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["item", "created_at", "id"]
        indexes = [models.Index(fields=["item", "created_at"], name="item_event_item")]

    def __str__(self) -> str:
        return f"item {self.item_id}: {self.message}"


class AgreementRecompute(Job):
    """A full recompute of a project's agreement: every item's consensus and status, the label
    model, the project's figures and the raters' scorecards."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="agreement_recomputes"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    items_changed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One live recompute per project: a second request joins the one in flight.
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status__in=["pending", "running"]),
                name="agreement_recompute_one_live",
            ),
        ]

    def __str__(self) -> str:
        return f"agreement recompute {self.pk} of project {self.project_id} ({self.status})"


class ProjectAgreement(models.Model):
    """A project's figures from its last full recompute, and the label model fitted then (the
    live evaluation of a Dawid-Skene or gold-weighted rule uses it for items labeled since)."""

    project = models.OneToOneField(
        Project, primary_key=True, on_delete=models.CASCADE, related_name="agreement"
    )
    summary = models.JSONField(default=dict)
    model = models.JSONField(default=dict)
    recompute = models.ForeignKey(
        AgreementRecompute, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"agreement of project {self.project_id}"


class RaterQuality(models.Model):
    """One rater's scorecard figures in a project, from the last full recompute."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    annotations = models.PositiveIntegerField(default=0)
    # Agreement with the majority of the other raters on the same items (leave-one-out).
    loo_agreement = models.FloatField(null=True, blank=True)
    loo_items = models.PositiveIntegerField(default=0)
    ds_accuracy = models.FloatField(null=True, blank=True)
    gold_items = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    labels_per_hour = models.FloatField(null=True, blank=True)
    median_seconds = models.FloatField(null=True, blank=True)
    # Agreement with the consensus per ISO week, oldest first: [[week, share, n], ...].
    trend = models.JSONField(default=list)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "rater quality"
        constraints = [
            models.UniqueConstraint(fields=["project", "rater"], name="rater_quality_unique"),
        ]

    def __str__(self) -> str:
        return f"rater {self.rater_id} in project {self.project_id}"

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_items if self.gold_items else None
