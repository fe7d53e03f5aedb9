"""Creating and changing projects and their label schema. (Members are added and removed by
`labeling.members`: removing one gives back the items they hold.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, F, ForeignObjectRel, Q

from core.errors import Conflict
from projects.changes import SettingsChanged, settings_changed
from projects.models import (
    RESERVED_HOTKEYS,
    Item,
    Label,
    LabelKind,
    Membership,
    Project,
    Role,
)
from projects.services.archive import project_ensure_writable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PROJECT_FIELDS = (
    "name",
    "description",
    "instructions",
    "content_type",
    "label_kind",
    "rating_min",
    "rating_max",
    "raters_per_item",
    "agreement_rule",
    "agreement_threshold",
    "lease_minutes",
    "gold_rate",
    "rater_fields",
    "weak_labels_prefill",
    "weak_labels_in_exports",
    "weak_label_threshold",
)


def _validate_project(project: Project) -> None:
    fields = project.rater_fields
    if not isinstance(fields, list) or not all(isinstance(name, str) for name in fields):
        raise ValidationError(
            {"rater_fields": 'A list of the names of item data fields, e.g. ["title"].'}
        )
    # The rating bounds first: the database constraint says the same, in words nobody can act on.
    if project.label_kind == LabelKind.RATING:
        if project.rating_min is None or project.rating_max is None:
            raise ValidationError(
                {"rating_min": "A rating scale needs both bounds (rating_min and rating_max)."}
            )
        if project.rating_min >= project.rating_max:
            raise ValidationError(
                {
                    "rating_max": f"rating_max ({project.rating_max}) must be greater than "
                    f"rating_min ({project.rating_min})."
                }
            )
    project.full_clean(exclude=["created_by"])


@transaction.atomic
def project_create(
    *,
    created_by: User | None,
    labels: Iterable[Mapping[str, Any]] = (),
    **fields: Any,
) -> Project:
    """Create a project; its creator becomes its first lead."""
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown project fields: {', '.join(sorted(unknown))}.")
    project = Project(created_by=created_by, **fields)
    _validate_project(project)
    project.save()
    if created_by is not None:
        Membership.objects.create(project=project, user=created_by, role=Role.LEAD)
    labels = list(labels)
    # A single- or multi-label project without labels could never be labeled: refuse it here,
    # whichever door (page, API, admin) it came through.
    if labels or project.label_kind != LabelKind.RATING:
        project_labels_set(project=project, labels=labels)
    return project


@transaction.atomic
def project_update(*, project: Project, **fields: Any) -> Project:
    """Change project settings. Lowering or raising k keeps items' slot counts as they are:
    `slots_taken < k` is evaluated at each claim, so the new k applies at once.

    What the stored labels depend on cannot change under them (Conflict): the content type once
    the project has items, the label kind and the rating bounds once it has annotations or gold
    answers. Otherwise one project would hold `"a"` and `["b"]` side by side.
    """
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown project fields: {', '.join(sorted(unknown))}.")
    # Under the project's row lock: an import or a first label committing meanwhile would
    # otherwise slip past the checks below (and an archive, past this one).
    stored = Project.objects.select_for_update().get(pk=project.pk)
    project_ensure_writable(project=stored)
    project_schema_change_check(stored=stored, fields=fields)
    changed = frozenset(_changes(stored, fields, fields))
    for name, value in fields.items():
        setattr(project, name, value)
    _validate_project(project)
    project.save()
    if changed:
        settings_changed(SettingsChanged(project=project, names=changed))
    return project


def _changes(stored: Project, fields: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    return [name for name in names if name in fields and fields[name] != getattr(stored, name)]


def project_schema_change_check(*, stored: Project, fields: Mapping[str, Any]) -> None:
    """Raise Conflict if `fields` would change what the project's stored labels depend on (see
    `project_update`); forms call it to show the refusal beside the fields."""
    if _changes(stored, fields, ["content_type"]) and stored.items.exists():
        raise Conflict(
            "The content type cannot change once the project has items: its items are "
            f"{stored.get_content_type_display().lower()}. Start a new project instead.",
            code="conflict",
        )
    changed = _changes(stored, fields, ["label_kind"])
    if stored.label_kind == LabelKind.RATING or fields.get("label_kind") == LabelKind.RATING:
        changed += _changes(stored, fields, ["rating_min", "rating_max"])
    if changed and project_has_labels(project=stored):
        what = " and ".join(name.replace("_", " ") for name in changed)
        raise Conflict(
            f"The {what} cannot change: the project's annotations and gold answers are stored "
            f"in its {stored.get_label_kind_display().lower()} schema"
            + (
                f" ({stored.rating_min}..{stored.rating_max})"
                if stored.label_kind == LabelKind.RATING
                else ""
            )
            + ". Start a new project for another schema.",
            code="conflict",
        )


def project_has_labels(*, project: Project) -> bool:
    """Whether any item of the project has an annotation or a gold answer."""
    return project.items.filter(Q(annotation_count__gt=0) | Q(gold_value__isnull=False)).exists()


def _validate_labels(project: Project, labels: list[Mapping[str, Any]]) -> None:
    errors: list[str] = []
    values: set[str] = set()
    hotkeys: set[str] = set()
    for index, spec in enumerate(labels, start=1):
        value = str(spec.get("value", "")).strip()
        hotkey = str(spec.get("hotkey", "") or "").strip().lower()
        if not value:
            errors.append(f"Label {index}: value is required.")
        if value in values:
            errors.append(f"Label {index}: value {value!r} is used twice.")
        values.add(value)
        if hotkey:
            if hotkey in RESERVED_HOTKEYS:
                errors.append(
                    f"Label {index}: hotkey {hotkey!r} is reserved (s skips, u goes back, "
                    "i shows instructions)."
                )
            if hotkey in hotkeys:
                errors.append(f"Label {index}: hotkey {hotkey!r} is used twice.")
            hotkeys.add(hotkey)
    if project.label_kind != LabelKind.RATING and not labels:
        errors.append("A single- or multi-label project needs at least one label.")
    elif labels and all(spec.get("archived") for spec in labels):
        errors.append("At least one label must stay unarchived, or raters have nothing to choose.")
    if errors:
        raise ValidationError(errors)


def labels_validate(*, project: Project, labels: Iterable[Mapping[str, Any]]) -> None:
    """Raise ValidationError naming every problem of a label schema for the project (what
    `project_labels_set` checks first), or Conflict when it drops a label in use; forms call it
    to show the problems beside the fields."""
    labels = list(labels)
    _validate_labels(project, labels)
    if project.pk is not None:
        _check_dropped(project, [str(spec["value"]).strip() for spec in labels])


def _check_dropped(project: Project, wanted_values: list[str]) -> None:
    uses = labels_in_use(
        project=project, labels=list(project.labels.exclude(value__in=wanted_values))
    )
    if uses:
        raise Conflict(
            " ".join(
                f"Label {value!r} cannot be removed or renamed: {', '.join(reasons)} use it."
                for value, reasons in uses.items()
            )
            + " Archive it instead: raters no longer see it, and what uses it keeps it.",
            code="conflict",
        )


@transaction.atomic
def project_labels_set(*, project: Project, labels: Iterable[Mapping[str, Any]]) -> list[Label]:
    """Replace the project's label schema with `labels` (dicts with value, display_name, colour,
    hotkey, archived), matching existing labels by value so their ids are kept.

    A label left out is deleted, unless annotations or gold answers use it (Conflict: archive
    it instead). Renaming a label's value is leaving it out and adding another, so a used label
    cannot be renamed either. Not in an archived project.
    """
    project_ensure_writable(project=project)
    labels = list(labels)
    _validate_labels(project, labels)
    # The project's row lock orders schema edits against each other and against imports.
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
    existing = {label.value: label for label in project.labels.all()}
    wanted_values = [str(spec["value"]).strip() for spec in labels]
    _check_dropped(project, wanted_values)
    project.labels.exclude(value__in=wanted_values).delete()
    # Clear hotkeys first so that swapping two labels' hotkeys does not trip the unique index.
    project.labels.update(hotkey="")
    result: list[Label] = []
    for position, spec in enumerate(labels):
        value = str(spec["value"]).strip()
        label = existing.get(value) or Label(project=project, value=value)
        label.display_name = str(spec.get("display_name") or value)
        label.color = str(spec.get("color") or label.color or "#4f6bed")
        label.hotkey = str(spec.get("hotkey", "") or "").strip().lower()
        label.position = position
        label.archived = bool(spec.get("archived", label.archived))
        label.full_clean(exclude=["project"], validate_unique=False, validate_constraints=False)
        label.save()
        result.append(label)
    return result


def labels_in_use(*, project: Project, labels: list[Label]) -> dict[str, list[str]]:
    """For each of `labels` that something uses, what uses it ("3 annotations", "1 gold
    answer"). Rows of other apps that reference a label do so with a RESTRICT foreign key; they
    are found through the model's relations, without this app knowing those apps."""
    if not labels:
        return {}
    by_id = {label.pk: label.value for label in labels}
    uses: dict[str, list[str]] = {}
    relations = [
        field
        for field in Label._meta.get_fields(include_hidden=True)
        if isinstance(field, ForeignObjectRel)
        and field.one_to_many
        and field.on_delete in (models.PROTECT, models.RESTRICT)
    ]
    for relation in relations:
        related_model = relation.related_model
        assert related_model is not None and not isinstance(related_model, str)
        counts = (
            related_model._base_manager.filter(**{f"{relation.field.name}__in": by_id})
            .order_by()
            .values_list(relation.field.name)
            .annotate(n=Count("pk"))
        )
        noun = related_model._meta.verbose_name_plural
        for label_id, n in counts:
            uses.setdefault(by_id[label_id], []).append(f"{n} {noun}")
    values = set(by_id.values())
    gold: dict[str, int] = {}
    gold_answer: Any
    for gold_answer in project.items.filter(gold_value__isnull=False).values_list(
        "gold_value", flat=True
    ):
        for chosen in gold_answer if isinstance(gold_answer, list) else [gold_answer]:
            if chosen in values:
                gold[chosen] = gold.get(chosen, 0) + 1
    for gold_label, n in gold.items():
        uses.setdefault(gold_label, []).append(f"{n} gold answer{'s' if n != 1 else ''}")
    return uses


def label_create(*, project: Project, **fields: Any) -> Label:
    specs = [
        {"value": label.value, "display_name": label.display_name, "color": label.color,
         "hotkey": label.hotkey, "archived": label.archived}
        for label in project.labels.all()
    ]  # fmt: skip
    specs.append(fields)
    return project_labels_set(project=project, labels=specs)[-1]


def item_priority_set(*, project: Project, keys: Iterable[str], priority: float) -> int:
    """Set the lead's priority on items by key; higher is served first."""
    project_ensure_writable(project=project)
    return Item.objects.filter(project=project, key__in=list(keys)).update(
        priority=priority, updated_at=F("updated_at")
    )


def _label_specs(project: Project) -> list[dict[str, Any]]:
    # Lock the project row: two edits of single labels each rewrite the whole schema, and without
    # the lock the second would silently undo the first.
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
    return [
        {"value": label.value, "display_name": label.display_name, "color": label.color,
         "hotkey": label.hotkey, "archived": label.archived, "id": label.pk}
        for label in project.labels.all()
    ]  # fmt: skip


LABEL_UPDATE_FIELDS = ("display_name", "color", "hotkey", "position", "archived")


@transaction.atomic
def label_update(*, label: Label, **fields: Any) -> Label:
    """Change one label's display name, colour, hotkey, position (0-based; the others shift) or
    archived flag (an archived label is hidden from raters).

    Its `value` is stored in annotations and exports, so it never changes: add a new label
    instead. Goes through `project_labels_set`, so every schema rule holds."""
    if "value" in fields and fields["value"] != label.value:
        raise ValidationError(
            {"value": "A label's value is stored in annotations and cannot change; add a new "
                      "label instead."}
        )  # fmt: skip
    fields.pop("value", None)
    unknown = set(fields) - set(LABEL_UPDATE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown label fields: {', '.join(sorted(unknown))}.")
    project = label.project
    specs = _label_specs(project)
    index = next(i for i, spec in enumerate(specs) if spec["id"] == label.pk)
    spec = specs.pop(index)
    position = fields.pop("position", index)
    spec.update(fields)
    specs.insert(max(0, min(int(position), len(specs))), spec)
    return next(
        saved for saved in project_labels_set(project=project, labels=specs)
        if saved.value == label.value
    )  # fmt: skip


@transaction.atomic
def label_delete(*, label: Label) -> None:
    """Remove one label from the project's schema (a single- or multi-label project keeps at
    least one); a label in use is refused (Conflict: archive it instead)."""
    project = label.project
    specs = [spec for spec in _label_specs(project) if spec["id"] != label.pk]
    project_labels_set(project=project, labels=specs)
