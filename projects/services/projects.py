"""Creating and changing projects and their label schema. (Members are added and removed by
`labeling.members`: removing one gives back the items they hold.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from projects.models import (
    RESERVED_HOTKEYS,
    Item,
    Label,
    LabelKind,
    Membership,
    Project,
    Role,
)

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
    "weak_labels_prefill",
    "weak_labels_in_exports",
    "weak_label_threshold",
)


def _validate_project(project: Project) -> None:
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
    `slots_taken < k` is evaluated at each claim, so the new k applies at once."""
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown project fields: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(project, name, value)
    _validate_project(project)
    project.save()
    return project


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
    if errors:
        raise ValidationError(errors)


def labels_validate(*, project: Project, labels: Iterable[Mapping[str, Any]]) -> None:
    """Raise ValidationError naming every problem of a label schema for the project (what
    `project_labels_set` checks first); forms call it to show the problems beside the fields."""
    _validate_labels(project, list(labels))


@transaction.atomic
def project_labels_set(*, project: Project, labels: Iterable[Mapping[str, Any]]) -> list[Label]:
    """Replace the project's label schema with `labels` (dicts with value, display_name, colour,
    hotkey), matching existing labels by value so their ids are kept."""
    labels = list(labels)
    _validate_labels(project, labels)
    existing = {label.value: label for label in project.labels.all()}
    wanted_values = [str(spec["value"]).strip() for spec in labels]
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
        label.full_clean(exclude=["project"], validate_unique=False, validate_constraints=False)
        label.save()
        result.append(label)
    return result


def label_create(*, project: Project, **fields: Any) -> Label:
    specs = [
        {"value": label.value, "display_name": label.display_name, "color": label.color,
         "hotkey": label.hotkey}
        for label in project.labels.all()
    ]  # fmt: skip
    specs.append(fields)
    return project_labels_set(project=project, labels=specs)[-1]


def item_priority_set(*, project: Project, keys: Iterable[str], priority: float) -> int:
    """Set the lead's priority on items by key; higher is served first."""
    return Item.objects.filter(project=project, key__in=list(keys)).update(
        priority=priority, updated_at=F("updated_at")
    )


def _label_specs(project: Project) -> list[dict[str, Any]]:
    # Lock the project row: two edits of single labels each rewrite the whole schema, and without
    # the lock the second would silently undo the first.
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
    return [
        {"value": label.value, "display_name": label.display_name, "color": label.color,
         "hotkey": label.hotkey, "id": label.pk}
        for label in project.labels.all()
    ]  # fmt: skip


LABEL_UPDATE_FIELDS = ("display_name", "color", "hotkey", "position")


@transaction.atomic
def label_update(*, label: Label, **fields: Any) -> Label:
    """Change one label's display name, colour, hotkey or position (0-based; the others shift).

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
    least one)."""
    project = label.project
    specs = [spec for spec in _label_specs(project) if spec["id"] != label.pk]
    project_labels_set(project=project, labels=specs)
