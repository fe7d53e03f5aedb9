"""Forms of the exports pages. They validate input and shape it for the services; they never
write (the views call `exports.services.*`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from agreement.models import LabelSource
from exports.models import DatasetFormat
from exports.services.build import MAX_NAME_LENGTH
from exports.services.webhooks import EVENT_VERSION_READY, EVENTS
from exports.specs import (
    DEFAULT_SALT,
    DEFAULT_SPLITS,
    FORMATS,
    MAX_SALT_LENGTH,
    SOURCES,
    data_keys_seen,
)
from projects.models import ContentType, Project

EVENT_LABELS = {EVENT_VERSION_READY: "A dataset version is ready"}


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="Payload URL",
        max_length=500,
        widget=forms.URLInput(
            attrs={
                "placeholder": "https://ci.example.com/hooks/accord",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
        help_text="Accord POSTs each event here as signed JSON. http:// or https://; addresses "
        "on your own network (127.0.0.1, 10.x, a host name) are fine.",
    )
    events = forms.MultipleChoiceField(
        label="Call it when",
        choices=[(event, EVENT_LABELS[event]) for event in EVENTS],
        initial=list(EVENTS),
        widget=forms.CheckboxSelectMultiple,
    )


class DatasetBuildForm(forms.Form):
    """The build form of the versions page. It only shapes the input into a spec
    (`spec()`); `exports.specs.DatasetSpec` judges it, and its errors are put back on these
    fields by name (the splits' rows come as lists `split_name` and `split_ratio`)."""

    sources = forms.MultipleChoiceField(
        label="Label sources",
        choices=[(source, label) for source, label in LabelSource.choices],
        initial=list(SOURCES),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Items whose label of record comes from these; ambiguous items never come.",
    )
    min_confidence = forms.FloatField(
        label="Minimum confidence",
        initial=0.0,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.05", "inputmode": "decimal"}),
        help_text="Consensus labels below it are left out (0 to 1).",
    )
    item_fields = forms.MultipleChoiceField(
        label="Item fields",
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    splits = forms.CharField(required=False, widget=forms.HiddenInput)
    salt = forms.CharField(
        label="Salt",
        initial=DEFAULT_SALT,
        max_length=MAX_SALT_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Splits hash each item's key with it: keep it to keep every item's split.",
    )
    freeze_test = forms.BooleanField(
        label="Freeze the test split",
        initial=True,
        required=False,
        help_text="Items once in 'test' stay there; new items join it by hash.",
    )
    formats = forms.MultipleChoiceField(
        label="Files",
        choices=DatasetFormat.choices,
        initial=list(FORMATS),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Parquet is always written.",
    )
    name = forms.CharField(
        label="Name",
        max_length=MAX_NAME_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. after the March review"}),
    )
    note = forms.CharField(
        label="Note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Goes into the dataset card.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        fields = item_fields_of(project)
        field = self.fields["item_fields"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(name, name) for name in fields]
        field.initial = ["image"] if project.content_type == ContentType.IMAGE else ["text"]
        self.split_rows = self._split_rows()

    def _split_rows(self) -> list[tuple[str, str]]:
        """The split rows to show: as posted, else the defaults; and one empty row to fill."""
        if self.is_bound:
            names = self.data.getlist("split_name")  # type: ignore[attr-defined]
            ratios = self.data.getlist("split_ratio")  # type: ignore[attr-defined]
            rows = list(zip(names, ratios, strict=False))
        else:
            rows = [(name, f"{ratio:g}") for name, ratio in DEFAULT_SPLITS.items()]
        return [*[(n, r) for n, r in rows if n.strip() or r.strip()], ("", "")]

    def spec_error(self, error: ValidationError) -> ValidationError:
        """A spec's error with its keys named as this form's fields (a spec's `fields` is the
        form's `item_fields`: a form's own attribute is `fields`)."""
        if not hasattr(error, "error_dict"):
            return error
        return ValidationError(
            {
                ("item_fields" if key == "fields" else key): value
                for key, value in error.error_dict.items()
            }
        )

    def spec(self) -> dict[str, Any]:
        """The spec the cleaned form asks for, for `DatasetSpec.parse` to judge (a ratio that
        is not a number is refused here, naming it)."""
        data = self.cleaned_data
        splits: dict[str, Any] = {}
        for name, ratio in self.split_rows:
            if not name.strip() and not ratio.strip():
                continue
            try:
                splits[name.strip()] = float(ratio)
            except ValueError:
                raise ValidationError(
                    {"splits": f"The ratio of split {name.strip()!r} is a number, not {ratio!r}."}
                ) from None
        confidence = data.get("min_confidence")
        return {
            "sources": data.get("sources") or [],
            "min_confidence": 0.0 if confidence is None else confidence,
            "fields": data.get("item_fields") or [],
            "splits": splits,
            "salt": data.get("salt") or "",
            "freeze_test": bool(data.get("freeze_test")),
            "formats": data.get("formats") or [DatasetFormat.PARQUET],
        }


def item_fields_of(project: Project) -> list[str]:
    """The item fields a build may take: text (or image) and the keys of the items' data."""
    first = "image" if project.content_type == ContentType.IMAGE else "text"
    return [first, *(key for key in data_keys_seen(project) if key != first)]
