"""The spec of a dataset version: which items (by the source of their label of record, and the
consensus's confidence), which item fields, the splits and their salt, whether the test split
is frozen, and the files to write. A version freezes its spec (`DatasetSpec.as_json`) with the
sha256 of its canonical JSON (`spec_hash`).

    {"sources": ["resolution", "gold", "consensus"], "min_confidence": 0.0, "fields": ["text"],
     "splits": {"train": 0.8, "validation": 0.1, "test": 0.1}, "salt": "accord",
     "freeze_test": true, "formats": ["parquet", "jsonl", "csv"]}

Every key may be left out (the defaults above; an image project's default field is "image").
The spec is normalised so that two specs meaning the same have the same hash: sources and
formats in the order above (Parquet always included), ratios as floats, and splits in their
canonical order, by name with "test" last. That order, not the order a request gave them in,
lays the ratios along [0, 1) (`exports.services.splits`): a JSON object's order does not
survive PostgreSQL's jsonb, and a version must split the same way wherever its spec is read.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from agreement.models import LabelSource
from exports.models import DatasetFormat
from projects.models import ContentType, Item, Project

SOURCES: tuple[str, ...] = tuple(LabelSource.values)
FORMATS: tuple[str, ...] = tuple(DatasetFormat.values)
DEFAULT_SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
DEFAULT_SALT = "accord"
TEST_SPLIT = "test"
SPLIT_NAME = re.compile(r"^[a-z0-9_]+$")
RATIO_TOLERANCE = 1e-9
MAX_SALT_LENGTH = 200
MAX_SPLITS = 20
# The item fields that are not keys of Item.data.
ITEM_FIELDS = ("text", "image")
# The columns every row has besides its fields (exports.services.rows): no field may take one
# of these names.
ROW_COLUMNS = (
    "item_key", "label", "label_source", "label_method", "confidence", "agreement",
    "n_annotations", "annotation_ids", "split", "row_hash",
)  # fmt: skip
KEYS = ("sources", "min_confidence", "fields", "splits", "salt", "freeze_test", "formats")


def canonical_json(value: Any) -> bytes:
    """The canonical JSON of a value, as hashed: keys sorted, no whitespace, UTF-8 with
    non-ASCII characters as themselves (Python's `json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`, encoded)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class DatasetSpec:
    """A normalised spec (the module says what each part means)."""

    sources: tuple[str, ...]
    min_confidence: float
    fields: tuple[str, ...]
    splits: tuple[tuple[str, float], ...]
    salt: str
    freeze_test: bool
    formats: tuple[str, ...]

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, *, project: Project) -> DatasetSpec:
        """Validate a requested spec against the project, filling in the defaults. Raises a
        ValidationError whose dict names each bad key, and the value it refused."""
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise ValidationError({"spec": f"A spec is a JSON object, not {_shown(data)}."})
        errors: dict[str, str] = {}
        unknown = sorted(str(key) for key in data if key not in KEYS)
        if unknown:
            errors["spec"] = (
                f"Unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"a spec has {', '.join(KEYS)}."
            )
        parts: dict[str, Any] = {}
        checks = {
            "sources": lambda v: _sources(v),
            "min_confidence": lambda v: _min_confidence(v),
            "fields": lambda v: _fields(v, project),
            "splits": lambda v: _splits(v),
            "salt": lambda v: _salt(v),
            "formats": lambda v: _formats(v),
        }
        for key, check in checks.items():
            try:
                parts[key] = check(data.get(key, _DEFAULT))
            except ValueError as error:
                errors[key] = str(error)
        freeze = data.get("freeze_test", _DEFAULT)
        split_names = [name for name, _ in parts.get("splits", ())]
        if freeze is _DEFAULT:
            parts["freeze_test"] = TEST_SPLIT in split_names and len(split_names) > 1
        elif not isinstance(freeze, bool):
            errors["freeze_test"] = f"freeze_test is true or false, not {_shown(freeze)}."
        elif freeze and "splits" in parts and TEST_SPLIT not in split_names:
            errors["freeze_test"] = (
                "freeze_test keeps the items of a split named 'test'; the splits "
                f"({', '.join(split_names)}) have none."
            )
        elif freeze and "splits" in parts and len(split_names) == 1:
            errors["freeze_test"] = (
                "freeze_test needs a split besides 'test' for the items that may not move into it."
            )
        else:
            parts["freeze_test"] = freeze
        if errors:
            raise ValidationError(errors)
        return cls(**parts)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DatasetSpec:
        """The spec a version froze (`as_json`), read back as it is: no check against the
        project, whose items may have changed since."""
        splits = {str(name): float(ratio) for name, ratio in data["splits"].items()}
        return cls(
            sources=tuple(data["sources"]),
            min_confidence=float(data["min_confidence"]),
            fields=tuple(data["fields"]),
            splits=_split_order(splits),
            salt=str(data["salt"]),
            freeze_test=bool(data["freeze_test"]),
            formats=tuple(data["formats"]),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "min_confidence": self.min_confidence,
            "fields": list(self.fields),
            "splits": dict(self.splits),
            "salt": self.salt,
            "freeze_test": self.freeze_test,
            "formats": list(self.formats),
        }

    @property
    def spec_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.as_json())).hexdigest()

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.splits)


class _Default:
    def __repr__(self) -> str:
        return "default"


_DEFAULT: Any = _Default()


def _shown(value: Any) -> str:
    """A value as an error message quotes it (JSON where it can, and never too long)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _string_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{what} is a list of names, not {_shown(value)}.")
    if not value:
        raise ValueError(f"{what} needs at least one name.")
    for name in value:
        if not isinstance(name, str):
            raise ValueError(f"{what} holds names, and {_shown(name)} is not one.")
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ValueError(f"{what} names {', '.join(map(repr, repeated))} more than once.")
    return list(value)


def _sources(value: Any) -> tuple[str, ...]:
    if value is _DEFAULT:
        return SOURCES
    names = _string_list(value, "sources")
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise ValueError(
            f"{', '.join(map(repr, unknown))} is not a source of a label of record; the "
            f"sources are {', '.join(SOURCES)}."
        )
    return tuple(source for source in SOURCES if source in names)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _min_confidence(value: Any) -> float:
    if value is _DEFAULT:
        return 0.0
    number = _number(value)
    if number is None or not 0.0 <= number <= 1.0:
        raise ValueError(f"min_confidence is a number from 0 to 1, not {_shown(value)}.")
    return number


def _fields(value: Any, project: Project) -> tuple[str, ...]:
    if value is _DEFAULT:
        return ("image",) if project.content_type == ContentType.IMAGE else ("text",)
    names = _string_list(value, "fields")
    problems = []
    for name in names:
        if name in ROW_COLUMNS:
            problems.append(f"{name!r} is the name of a column every row has")
        elif name == "image" and project.content_type != ContentType.IMAGE:
            problems.append(f"'image': the project's items are {project.content_type}, not images")
        elif name in ITEM_FIELDS:
            continue
        elif not name or '"' in name or any(ord(c) < 32 for c in name):
            problems.append(f"{_shown(name)} cannot name a field")
        elif not Item.objects.filter(project=project, data__has_key=name).exists():
            problems.append(f"{name!r} is a key of no item's data")
    if problems:
        seen = data_keys_seen(project)
        known = ", ".join(["text", *(["image"] if project.content_type == "image" else []), *seen])
        raise ValueError(f"{'; '.join(problems)}. Fields this project's items have: {known}.")
    return tuple(names)


def data_keys_seen(project: Project, sample: int = 500) -> list[str]:
    """Keys of Item.data among the project's first items (for an error message)."""
    keys: set[str] = set()
    for data in (
        Item.objects.filter(project=project).order_by("pk").values_list("data", flat=True)[:sample]
    ):
        if isinstance(data, dict):
            keys.update(str(key) for key in data)
    return sorted(key for key in keys if key not in ROW_COLUMNS)


def _split_order(splits: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    """Splits by name, "test" last (the module says why)."""
    return tuple(sorted(splits.items(), key=lambda pair: (pair[0] == TEST_SPLIT, pair[0])))


def _splits(value: Any) -> tuple[tuple[str, float], ...]:
    if value is _DEFAULT:
        return _split_order(DEFAULT_SPLITS)
    if not isinstance(value, Mapping) or not value:
        raise ValueError(
            'splits maps each split\'s name to its share of the items, e.g. {"train": 0.8, '
            f'"test": 0.2}}, not {_shown(value)}.'
        )
    if len(value) > MAX_SPLITS:
        raise ValueError(f"splits has {len(value)} splits; at most {MAX_SPLITS}.")
    ratios: dict[str, float] = {}
    for name, ratio in value.items():
        if not isinstance(name, str) or not SPLIT_NAME.match(name):
            raise ValueError(
                f"{_shown(name)} cannot name a split: use lower-case letters, digits and '_'."
            )
        number = _number(ratio)
        if number is None or number <= 0 or number > 1:
            raise ValueError(
                f"The ratio of split {name!r} is a number in (0, 1], not {_shown(ratio)}."
            )
        ratios[name] = number
    total = math.fsum(ratios.values())
    if abs(total - 1.0) > RATIO_TOLERANCE:
        raise ValueError(f"The ratios of splits add up to {total:.12g}; they must add up to 1.")
    return _split_order(ratios)


def _salt(value: Any) -> str:
    if value is _DEFAULT:
        return DEFAULT_SALT
    if not isinstance(value, str) or not value or len(value) > MAX_SALT_LENGTH:
        raise ValueError(
            f"salt is a non-empty string of at most {MAX_SALT_LENGTH} characters, not "
            f"{_shown(value)}."
        )
    return value


def _formats(value: Any) -> tuple[str, ...]:
    if value is _DEFAULT:
        return FORMATS
    names = _string_list(value, "formats")
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ValueError(
            f"{', '.join(map(repr, unknown))} is not a format; the formats are "
            f"{', '.join(FORMATS)} (Parquet is always written)."
        )
    return tuple(name for name in FORMATS if name in names or name == DatasetFormat.PARQUET)
