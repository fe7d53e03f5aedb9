"""Forms for the lead's pages. They validate input and shape it for the services; they never
write (the views call `projects.services.*`)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from projects.models import (
    RESERVED_HOTKEYS,
    ContentType,
    ImportFormat,
    ItemStatus,
    Label,
    LabelKind,
    Project,
    Role,
    TokenScope,
)
from projects.services.projects import PROJECT_FIELDS
from projects.services.tokens import DEFAULT_PROJECT_SCOPES, OFFERED_SCOPES

LABEL_PALETTE = (
    "#4f6bed", "#2e9e5b", "#d64545", "#d99a1e", "#8e59c9", "#1f9bb0", "#e0678f", "#6b7686",
)  # fmt: skip


class FieldNamesField(forms.CharField):
    """Names of an item's data fields, typed as a comma-separated list."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        names = [name.strip() for name in text.split(",") if name.strip()]
        return list(dict.fromkeys(names))


# Settings of capabilities that are planned, not built (weak labels): the project keeps their
# defaults, and the form leaves them out until something uses them.
PLANNED_FIELDS = (
    "weak_labels_prefill",
    "weak_labels_in_exports",
    "weak_label_threshold",
)
FORM_FIELDS = tuple(name for name in PROJECT_FIELDS if name not in PLANNED_FIELDS)


class ProjectForm(forms.ModelForm):
    """The project's settings that Accord acts on today. Validation only: the write goes through
    `project_create` or `project_update`, so the form is bound to a throwaway instance, never to
    the real row."""

    rater_fields = FieldNamesField(
        required=False,
        label="Item fields raters see",
        help_text="Names of the items' other fields (from the imported file) shown beside the "
        "text or image, comma-separated. Empty: raters see the text or image only, so that an "
        "answer or a model's guess in the file never reaches them.",
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off",
                                      "placeholder": "e.g. title, product"}),
    )  # fmt: skip

    class Meta:
        model = Project
        fields = FORM_FIELDS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "instructions": forms.Textarea(attrs={"rows": 12, "class": "mono"}),
            "content_type": forms.RadioSelect,
            "label_kind": forms.RadioSelect,
            "gold_rate": forms.NumberInput(attrs={"step": "0.01", "min": 0, "max": 1}),
            "raters_per_item": forms.NumberInput(attrs={"min": 1, "max": 100}),
            "lease_minutes": forms.NumberInput(attrs={"min": 1, "max": 24 * 60}),
            "agreement_rule": forms.RadioSelect,
            "agreement_threshold": forms.NumberInput(attrs={"step": "0.01", "min": 0, "max": 1}),
        }
        labels = {
            "raters_per_item": "Raters per item",
            "lease_minutes": "Lease length (minutes)",
            "gold_rate": "Gold rate",
            "rating_min": "Lowest rating",
            "rating_max": "Highest rating",
            "agreement_rule": "Agreement rule",
            "agreement_threshold": "Threshold",
        }
        help_texts = {
            "description": "One or two lines, shown on the project card.",
            "instructions": "Markdown. Raters see it beside every item and with the i key.",
            "raters_per_item": "How many raters label each item (k).",
            "lease_minutes": "How long a rater holds an item before it goes back to the queue.",
            "gold_rate": "Share of a rater's items drawn from gold items, from 0 to 1.",
            "agreement_rule": "When an item whose labels are all in is agreed; otherwise it is a "
            "conflict for a lead to resolve. A change judges every item again: the project's "
            "agreement is recomputed in the background (its dashboard shows the progress).",
            "agreement_threshold": "For the share, Dawid-Skene and weighted rules, from 0 to 1 "
            "(2 of 3 raters: 0.66).",
        }

    def __init__(
        self, *args: Any, content_type_locked: bool = False, schema_locked: bool = False,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"autofocus": True, "autocomplete": "off"})
        for name in ("content_type", "label_kind", "agreement_rule"):
            # A choice is always required here; drop the blank "---------" option.
            field = cast(forms.ChoiceField, self.fields[name])
            field.choices = cast(models.Field, Project._meta.get_field(name)).choices or []
        # Scripts that post the form from before the agreement settings existed keep the
        # project's rule (or the default) rather than failing.
        for name in ("agreement_rule", "agreement_threshold"):
            self.fields[name].required = False
        if content_type_locked:
            self.fields["content_type"].disabled = True
            self.fields["content_type"].help_text = "Fixed once the project has items."
        if schema_locked:
            for name in ("label_kind", "rating_min", "rating_max"):
                self.fields[name].disabled = True
            self.fields["label_kind"].help_text = (
                "Fixed once the project has annotations or gold answers: they are stored in this "
                "schema. Labels can still be added, renamed for display, or archived."
            )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("label_kind") == LabelKind.RATING:
            low, high = cleaned.get("rating_min"), cleaned.get("rating_max")
            if low is None:
                self.add_error("rating_min", "A rating scale needs a lowest rating.")
            if high is None:
                self.add_error("rating_max", "A rating scale needs a highest rating.")
            if low is not None and high is not None and low >= high:
                self.add_error("rating_max", f"Must be greater than the lowest rating ({low}).")
        else:
            cleaned["rating_min"] = cleaned["rating_max"] = None
        for name in ("agreement_rule", "agreement_threshold"):
            if cleaned.get(name) in (None, ""):
                cleaned[name] = self.initial.get(name, getattr(self.instance, name))
        return cleaned

    def service_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in FORM_FIELDS}


def _model_validators(name: str) -> list[Any]:
    return list(cast(models.Field, Label._meta.get_field(name)).validators)


class LabelForm(forms.Form):
    """One row of the label schema. A row left entirely blank is ignored."""

    color = forms.CharField(
        max_length=7,
        required=False,
        validators=_model_validators("color"),
        widget=forms.TextInput(attrs={"type": "color", "aria-label": "Colour"}),
        label="Colour",
    )
    display_name = forms.CharField(
        max_length=200,
        required=False,
        label="Display name",
        widget=forms.TextInput(
            attrs={"aria-label": "Display name", "placeholder": "Positive", "autocomplete": "off"}
        ),
    )
    value = forms.CharField(
        max_length=100,
        required=False,
        validators=_model_validators("value"),
        label="Value",
        widget=forms.TextInput(
            attrs={"aria-label": "Value", "placeholder": "positive", "class": "mono",
                   "autocomplete": "off", "spellcheck": "false"}
        ),
    )  # fmt: skip
    hotkey = forms.CharField(
        max_length=1,
        required=False,
        label="Hotkey",
        widget=forms.TextInput(
            attrs={"aria-label": "Hotkey", "autocomplete": "off", "class": "hotkey-input mono"}
        ),
    )

    archived = forms.BooleanField(
        required=False,
        label="Archived",
        widget=forms.CheckboxInput(attrs={"aria-label": "Archived"}),
        help_text="Hidden from raters; kept for the annotations that use it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.initial.get("value"):
            # Annotations and exports store the value: an existing label keeps it for good.
            self.fields["value"].disabled = True
            self.fields["value"].widget.attrs["title"] = (
                "Stored in annotations, so it cannot change. Add a new label instead."
            )

    def clean_hotkey(self) -> str:
        hotkey = self.cleaned_data.get("hotkey", "").strip().lower()
        if hotkey and not (hotkey.isascii() and hotkey.isalnum()):
            raise ValidationError("One digit or one letter.")
        if hotkey in RESERVED_HOTKEYS:
            raise ValidationError(
                f"“{hotkey}” is reserved: s skips, u goes back, i shows instructions."
            )
        return hotkey

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        value = (cleaned.get("value") or "").strip()
        display_name = (cleaned.get("display_name") or "").strip()
        cleaned["is_blank"] = not value and not display_name and not self.errors
        if not cleaned["is_blank"] and not value and "value" not in self.errors:
            self.add_error("value", "A label needs a value.")
        return cleaned


class BaseLabelFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        by_value: dict[str, list[forms.Form]] = {}
        by_hotkey: dict[str, list[forms.Form]] = {}
        for form in self.kept_forms():
            by_value.setdefault(form.cleaned_data["value"].strip(), []).append(form)
            if form.cleaned_data["hotkey"]:
                by_hotkey.setdefault(form.cleaned_data["hotkey"], []).append(form)
        for value, forms_ in by_value.items():
            if len(forms_) > 1:
                for form in forms_:
                    form.add_error("value", f"“{value}” is used by {len(forms_)} labels.")
        for hotkey, forms_ in by_hotkey.items():
            if len(forms_) > 1:
                for form in forms_:
                    form.add_error("hotkey", f"“{hotkey}” is used by {len(forms_)} labels.")
        if any(self.errors):
            raise ValidationError("Some labels need fixing; see the rows marked below.")

    def kept_forms(self) -> list[forms.Form]:
        """Rows that are neither deleted nor blank, in order."""
        kept = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("is_blank"):
                continue
            kept.append(form)
        return kept

    def label_specs(self) -> list[dict[str, Any]]:
        return [
            {
                "value": form.cleaned_data["value"].strip(),
                "display_name": form.cleaned_data["display_name"].strip()
                or form.cleaned_data["value"].strip(),
                "color": form.cleaned_data["color"] or LABEL_PALETTE[0],
                "hotkey": form.cleaned_data["hotkey"],
                "archived": form.cleaned_data["archived"],
            }
            for form in self.kept_forms()
        ]


LabelFormSet = forms.formset_factory(
    LabelForm, formset=BaseLabelFormSet, extra=0, can_delete=True, max_num=200, validate_max=True
)


def label_formset(data: Any = None, *, labels: list[Label] | None = None) -> BaseLabelFormSet:
    """The label editor, prefilled from `labels`, or with three empty rows for a new project."""
    if labels is None:
        initial: list[dict[str, Any]] = [
            {"color": color, "hotkey": ""} for color in LABEL_PALETTE[:3]
        ]
    else:
        initial = [
            {"value": lb.value, "display_name": lb.display_name, "color": lb.color,
             "hotkey": lb.hotkey, "archived": lb.archived}
            for lb in labels
        ]  # fmt: skip
    return cast(BaseLabelFormSet, LabelFormSet(data, initial=initial, prefix="labels"))


class MemberAddForm(forms.Form):
    username = forms.CharField(
        max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.RATER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ImportForm(forms.Form):
    file = forms.FileField(
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.jsonl,.ndjson,.json,.zip"}),
        help_text="CSV, JSON Lines, a JSON array, or a ZIP of images.",
    )
    format = forms.ChoiceField(choices=ImportFormat.choices, initial=ImportFormat.AUTO)

    def __init__(self, *args: Any, content_type: str = ContentType.TEXT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Offer only the formats that can feed this project.
        fits = (
            {ImportFormat.AUTO, ImportFormat.ZIP}
            if content_type == ContentType.IMAGE
            else set(ImportFormat.values) - {ImportFormat.ZIP}
        )
        field = cast(forms.ChoiceField, self.fields["format"])
        field.choices = [c for c in ImportFormat.choices if c[0] in fits]
        self.fields["format"].label = "Format"
        self.fields["format"].help_text = ""


class ItemFilterForm(forms.Form):
    status = forms.ChoiceField(required=False)
    q = forms.CharField(required=False, max_length=255, label="Key")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["status"]).choices = [
            ("", "Any status"),
            *ItemStatus.choices,
        ]


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. nightly-export pipeline", "autocomplete": "off"}
        ),
    )


SCOPE_CHOICE_LABELS = {
    TokenScope.ITEMS_READ: "Read items and labels",
    TokenScope.DATASETS_READ: "Read dataset versions",
}


class ProjectTokenForm(TokenCreateForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope.value, SCOPE_CHOICE_LABELS[scope]) for scope in OFFERED_SCOPES],
        initial=list(DEFAULT_PROJECT_SCOPES),
        widget=forms.CheckboxSelectMultiple,
        label="It may",
        help_text="Read only, and only this project. Dataset versions are planned: a token made "
        "now reads them once they exist.",
    )
