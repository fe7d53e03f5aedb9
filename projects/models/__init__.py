"""Projects, their label schema and members, the items to label, import jobs, and (in
`credentials`) the API tokens and invitation links that reach a project.

Business rules live in `projects/services/`; these classes hold data and database invariants.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from core.jobs.models import Job


class ContentType(models.TextChoices):
    TEXT = "text", "Text"
    IMAGE = "image", "Image"


class LabelKind(models.TextChoices):
    SINGLE = "single", "Single label"
    MULTI = "multi", "Multiple labels"
    RATING = "rating", "Rating scale"


class AgreementRule(models.TextChoices):
    """When an item whose k labels are all in is agreed (else it is a conflict). Each rule names
    the label model that gives the consensus; `Project.agreement_threshold` is its parameter."""

    UNANIMOUS = "unanimous", "Unanimous: every rater chose the same"
    MAJORITY = "majority", "Majority: more than half of the raters agree"
    MIN_SHARE = "min_share", "Share: the top label has at least the threshold's share of raters"
    DAWID_SKENE = "dawid_skene", "Dawid-Skene: the top label's posterior is at least the threshold"
    WEIGHTED = "weighted", "Gold-weighted vote: the top label's weight is at least the threshold"


class Role(models.TextChoices):
    LEAD = "lead", "Lead"
    RATER = "rater", "Rater"


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text="Markdown, shown beside every item.")
    content_type = models.CharField(
        max_length=10, choices=ContentType.choices, default=ContentType.TEXT
    )
    label_kind = models.CharField(
        max_length=10, choices=LabelKind.choices, default=LabelKind.SINGLE
    )
    rating_min = models.IntegerField(null=True, blank=True)
    rating_max = models.IntegerField(null=True, blank=True)
    raters_per_item = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    agreement_rule = models.CharField(
        max_length=20, choices=AgreementRule.choices, default=AgreementRule.MAJORITY
    )
    agreement_threshold = models.FloatField(
        default=0.66, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    lease_minutes = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    gold_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of a rater's items drawn from gold items.",
    )
    rater_fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Fields of an item's data that raters see beside the text or image (by name). "
        "Nothing else of the item's data reaches them.",
    )
    weak_labels_prefill = models.BooleanField(
        default=False, help_text="Weak labels may pre-select a label on the labeling page."
    )
    weak_labels_in_exports = models.BooleanField(default=False)
    weak_label_threshold = models.FloatField(
        default=0.9, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # An archived project keeps everything and changes nothing (projects.services.projects):
    # a project with annotations is archived rather than deleted, so no human label is lost.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(raters_per_item__gte=1), name="project_raters_per_item_positive"
            ),
            models.CheckConstraint(
                condition=Q(agreement_threshold__gte=0) & Q(agreement_threshold__lte=1),
                name="project_agreement_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate_range"
            ),
            models.CheckConstraint(
                condition=~Q(label_kind="rating")
                | (
                    Q(rating_min__isnull=False)
                    & Q(rating_max__isnull=False)
                    & Q(rating_min__lt=F("rating_max"))
                ),
                name="project_rating_bounds",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


hotkey_validator = RegexValidator(
    r"^[0-9a-z]?$", "A hotkey is one digit or one lower-case letter (or empty)."
)
RESERVED_HOTKEYS = frozenset({"s", "u", "i"})  # skip, undo/back, instructions


class Label(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    value = models.CharField(
        max_length=100,
        validators=[RegexValidator(r"^[\w.\-]+$", "Use letters, digits, '_', '-' or '.'.")],
        help_text="Stored in annotations and exports.",
    )
    display_name = models.CharField(max_length=200)
    color = models.CharField(
        max_length=7,
        default="#4f6bed",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour is #rrggbb.")],
    )
    hotkey = models.CharField(max_length=1, blank=True, validators=[hotkey_validator])
    position = models.PositiveIntegerField(default=0)
    # A label that annotations or gold answers use cannot be deleted or renamed (its value is in
    # them); archiving hides it from raters and keeps it for history.
    archived = models.BooleanField(
        default=False, help_text="Hidden from raters; kept for the annotations that use it."
    )

    class Meta:
        ordering = ["project", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "value"], name="label_unique_value"),
            models.UniqueConstraint(
                fields=["project", "hotkey"], condition=~Q(hotkey=""), name="label_unique_hotkey"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.value})"


class Membership(models.Model):
    # Served by membership_unique_user, which leads with it.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.RATER)
    # The member's labeled items in this project, kept by each first submit (a change of label
    # does not count): the labeling page shows them with every item, and counting annotations
    # there grew with the rater's work. `labeled_today` counts since midnight (TIME_ZONE) of
    # `labeled_on`, and is 0 for any later day.
    labeled_total = models.PositiveIntegerField(default=0)
    labeled_today = models.PositiveIntegerField(default=0)
    labeled_on = models.DateField(null=True, blank=True)
    # A rater named in an imported annotation file who has no Accord account: their user can
    # never log in (inactive, no usable password), and `external_name` is the name in the file.
    is_external = models.BooleanField(default=False)
    external_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "role", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class ImageBlob(models.Model):
    """An image stored once by the SHA-256 of its bytes, shared by every item that shows it."""

    sha256 = models.CharField(max_length=64, unique=True)
    file = models.FileField(upload_to="images/", max_length=255)
    thumbnail = models.FileField(upload_to="thumbnails/", max_length=255)
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} {self.format} {self.width}x{self.height}"


class ItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    LABELED = "labeled", "Labeled"
    AGREED = "agreed", "Agreed"
    CONFLICT = "conflict", "Conflict"
    RESOLVED = "resolved", "Resolved"


class Item(models.Model):
    """One thing to label.

    `slots_taken` counts the raters holding or having spent one of the item's k slots (live or
    not-yet-reclaimed leases, lead assignments and submitted annotations), less the
    `extra_slots` a lead added; `annotation_count` counts submitted annotations. Both change only
    through labeling's services under a row lock or with F() expressions, so they stay right
    under concurrency.
    """

    # No index of its own: the unique key and the indexes below that start with the project
    # serve lookups by project, and each index is work on every item an import inserts.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    key = models.CharField(max_length=255)
    text = models.TextField(blank=True)
    image = models.ForeignKey(
        ImageBlob, null=True, blank=True, on_delete=models.PROTECT, related_name="items",
        db_index=False,  # indexed below for image items only
    )  # fmt: skip
    data = models.JSONField(default=dict, blank=True, help_text="Other fields of the source row.")
    content_hash = models.CharField(max_length=64)
    status = models.CharField(
        max_length=12, choices=ItemStatus.choices, default=ItemStatus.OPEN, db_index=False
    )
    slots_taken = models.PositiveSmallIntegerField(default=0)
    annotation_count = models.PositiveSmallIntegerField(default=0)
    # Raters a lead asked for beyond k ("one more rater" on a conflict). `slots_taken` counts
    # holders less these, so that the claim's test `slots_taken < k` (and its index) serves an
    # item with extra slots unchanged; the item is labeled at k + extra_slots annotations.
    extra_slots = models.PositiveSmallIntegerField(default=0, db_default=0)
    # Bumped by every change of what the item's labels rest on (an annotation added or changed,
    # its gold answer set), under the item's row lock or with F(): a computation that records
    # the counter it saw knows exactly which items to redo.
    change_count = models.PositiveBigIntegerField(default=0, db_default=0)  # raw COPY inserts too
    priority = models.FloatField(default=0.0, help_text="Higher is served first.")
    shuffle_key = models.IntegerField(
        default=0, help_text="Stable pseudo-random order, derived from the key."
    )
    gold_value = models.JSONField(null=True, blank=True)
    is_gold = models.BooleanField(default=False)
    import_job = models.ForeignKey(
        "ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="item_unique_key"),
            models.CheckConstraint(
                condition=Q(annotation_count__lte=F("slots_taken") + F("extra_slots")),
                name="item_annotations_within_slots",
            ),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_value__isnull=False),
                name="item_gold_has_value",
            ),
        ]
        indexes = [
            # Serves the claim order: most-started first, then priority, then a stable shuffle.
            # `slots_taken < k` is a range bound on the second column, not a filter.
            models.Index(
                "project",
                F("slots_taken").desc(),
                F("priority").desc(),
                "shuffle_key",
                "id",
                condition=Q(is_gold=False),
                name="item_claim_order",
            ),
            models.Index(fields=["project", "status"], name="item_project_status"),
            # Finds the items showing an image (the PROTECT check when an image is deleted).
            models.Index(fields=["image"], condition=Q(image__isnull=False), name="item_image"),
            models.Index(
                fields=["project", "shuffle_key"], condition=Q(is_gold=True), name="item_gold_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.key}"


class ImportFormat(models.TextChoices):
    AUTO = "auto", "Detect from the file name"
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"
    JSON = "json", "JSON array"
    ZIP = "zip", "ZIP of images"


class ImportJob(Job):
    """An import of one file into a project: a row with status and progress, run by Celery."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, default="ui")  # ui, api, cli
    file = models.FileField(upload_to="imports/", max_length=255)
    original_name = models.CharField(max_length=255)
    format = models.CharField(
        max_length=10, choices=ImportFormat.choices, default=ImportFormat.AUTO
    )
    created_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "import"

    def __str__(self) -> str:
        return f"import {self.pk} of {self.original_name} ({self.status})"


# Credentials that reach a project, re-exported where every caller looks for this app's models.
from projects.models.credentials import ApiToken as ApiToken  # noqa: E402
from projects.models.credentials import Invitation as Invitation  # noqa: E402
from projects.models.credentials import InvitationAcceptance as InvitationAcceptance  # noqa: E402
from projects.models.credentials import TokenScope as TokenScope  # noqa: E402
