"""Input taken at its word: in a JSON body, a field the schema calls a string takes a JSON string,
an integer a JSON number, a boolean true or false. DRF's fields coerce ("5" for 5, 5 for "5",
"yes" for true), so the schema and the API would disagree about what is valid, and a client's
type slip would pass unnoticed. In a query string, an empty value is refused rather than read as
absent, unless the parameter may be blank.
"""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework import serializers

# (field class, JSON type name, whether a value has that type), most specific first.
_JSON_TYPES: list[tuple[type[serializers.Field[Any, Any, Any, Any]], str, Any]] = [
    (serializers.BooleanField, "true or false", lambda v: isinstance(v, bool)),
    (
        serializers.IntegerField,
        "a whole number",
        lambda v: (
            not isinstance(v, bool)
            and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))
        ),
    ),
    (
        serializers.FloatField,
        "a number",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    ),
    (
        serializers.DecimalField,
        "a number",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    ),
    (serializers.MultipleChoiceField, "a list", lambda v: isinstance(v, list)),
    (serializers.ChoiceField, "a string", lambda v: isinstance(v, str)),
    (serializers.CharField, "a string", lambda v: isinstance(v, str)),
    (serializers.UUIDField, "a string", lambda v: isinstance(v, str)),
    (serializers.ListField, "a list", lambda v: isinstance(v, list)),
    (serializers.ListSerializer, "a list", lambda v: isinstance(v, list)),
    (serializers.DictField, "an object", lambda v: isinstance(v, dict)),
    (serializers.Serializer, "an object", lambda v: isinstance(v, dict)),
]


def json_type_problem(field: serializers.Field[Any, Any, Any, Any], value: Any) -> str | None:
    """What is wrong with the JSON type of `value` for `field`, or None."""
    if value is None:
        return None  # the field's allow_null says
    for field_class, name, has_type in _JSON_TYPES:
        if isinstance(field, field_class):
            if not has_type(value):
                return f"Expected {name}."
            if isinstance(field, serializers.ListField) and field.child is not None:
                for index, item in enumerate(value):
                    if problem := json_type_problem(field.child, item):
                        return f"Item {index}: {problem}"
            return None
    return None  # JSONField and the like take any JSON


class StrictJsonInput:
    """Mix into an input serializer, before serializers.Serializer. With `unknown_fields_refused`,
    a field the serializer does not know is named in a 400 too (a misspelt option would
    otherwise fall back to its default unnoticed)."""

    fields: Any
    unknown_fields_refused = False

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, QueryDict):
            # Query parameters and form fields are text; an empty one is no value at all, which
            # DRF would read as "not given" and quietly replace with the default.
            errors = {
                name: ["Give a value, or leave the parameter out."]
                for name, field in self.fields.items()
                if data.get(name) == "" and not getattr(field, "allow_blank", False)
            }
        elif isinstance(data, dict):
            errors = {
                name: [problem]
                for name, field in self.fields.items()
                if not field.read_only
                and name in data
                and (problem := json_type_problem(field, data[name]))
            }
        else:
            errors = {}
        if errors:
            raise serializers.ValidationError(errors)
        unknown = (
            {name: ["Unknown field."] for name in data if name not in self.fields}
            if self.unknown_fields_refused and isinstance(data, dict)
            else {}
        )
        if not unknown:
            return super().to_internal_value(data)  # type: ignore[misc]
        try:
            super().to_internal_value(data)  # type: ignore[misc]
        except serializers.ValidationError as error:  # its problems first, then the unknown
            raise serializers.ValidationError({**error.detail, **unknown}) from None  # type: ignore[dict-item,misc]
        raise serializers.ValidationError(unknown)
