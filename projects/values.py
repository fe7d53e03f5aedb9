"""The shapes of a label value, checked against the project's label schema: the value of an
annotation, a gold answer, or (later) a suggestion."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from projects.models import LabelKind, Project


class InvalidValue(ValueError):
    """A value that does not fit the project's label schema; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def annotation_value_clean(*, project: Project, value: Any, label_values: Collection[str]) -> Any:
    """Return the value in canonical form, or raise InvalidValue naming what is wrong.

    single: one label value; multi: a list of distinct label values (may be empty: "none of
    these"), returned sorted; rating: an integer within the project's bounds.
    """
    kind = project.label_kind
    if kind == LabelKind.SINGLE:
        if not isinstance(value, str) or value not in label_values:
            raise InvalidValue(
                f"value {value!r} is not a label of this project; use one of "
                f"{sorted(label_values)}."
            )
        return value
    if kind == LabelKind.MULTI:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidValue(f"value {value!r} must be a list of label values.")
        unknown = sorted(v for v in set(value) if v not in label_values)
        if unknown:
            raise InvalidValue(f"labels {unknown} are not labels of this project.")
        return sorted(set(value))
    # isfinite first: int() of an infinite float (JSON's 1e999) raises OverflowError, of NaN
    # ValueError.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or value != int(value)
    ):
        raise InvalidValue(f"value {value!r} must be a whole number.")
    assert project.rating_min is not None and project.rating_max is not None
    if not project.rating_min <= value <= project.rating_max:
        raise InvalidValue(
            f"rating {value} is outside the scale {project.rating_min}..{project.rating_max}."
        )
    return int(value)


def gold_matches(*, value: Any, gold_value: Any) -> bool:
    if isinstance(gold_value, list):
        return sorted(set(value or [])) == sorted(set(gold_value))
    return bool(value == gold_value)
