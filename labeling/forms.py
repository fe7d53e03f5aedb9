"""Forms of the labeling pages. They validate and shape input; the views call the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.db.models import OuterRef, Subquery

from labeling.models import AnnotationImportFormat
from projects.models import Membership, Project, Role
from projects.services.invitations import DEFAULT_DAYS, MAX_USES_LIMIT

MAX_ASSIGN = 10_000


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.get_username()} ({obj.project_role})"


class AssignForm(forms.Form):
    KEYS = "keys"
    NEXT = "next"

    rater = MemberChoiceField(
        queryset=get_user_model().objects.none(),
        to_field_name="username",
        empty_label="Choose a member…",
        help_text="Their assigned items come first in their queue and do not expire.",
    )
    source = forms.ChoiceField(
        choices=[(KEYS, "These item keys"), (NEXT, "The next items of the queue")],
        initial=KEYS,
        widget=forms.RadioSelect,
        label="Which items",
    )
    keys = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono", "spellcheck": "false"}),
        label="Item keys",
        help_text="One key per line, as in the imported file.",
    )
    count = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ASSIGN,
        initial=50,
        label="How many",
        help_text="Items nobody has finished yet that this member never had, in queue order.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = Membership.objects.filter(project=project, user=OuterRef("pk")).values("role")[:1]
        # External raters (named in imported files) cannot sign in to label what they are given.
        self.fields["rater"].queryset = (  # type: ignore[attr-defined]
            get_user_model()
            .objects.filter(memberships__project=project, memberships__is_external=False)
            .annotate(project_role=Subquery(role))
            .order_by("username")
        )

    def clean_keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for line in self.cleaned_data.get("keys", "").splitlines():
            key = line.strip()
            if key:
                seen.setdefault(key, None)
        if len(seen) > MAX_ASSIGN:
            raise forms.ValidationError(f"At most {MAX_ASSIGN:,} keys at a time.")
        return list(seen)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        source = cleaned.get("source")
        if source == self.KEYS and not cleaned.get("keys") and "keys" not in self.errors:
            self.add_error("keys", "Paste at least one item key.")
        if source == self.NEXT and not cleaned.get("count") and "count" not in self.errors:
            self.add_error("count", "Say how many items to assign.")
        return cleaned


class AnnotationImportForm(forms.Form):
    file = forms.FileField(
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.jsonl,.ndjson,.json"}),
        help_text="CSV or JSON Lines: one row per label.",
    )
    format = forms.ChoiceField(
        choices=AnnotationImportFormat.choices, initial=AnnotationImportFormat.AUTO, label="Format"
    )


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.RATER)
    max_uses = forms.IntegerField(
        min_value=1, max_value=MAX_USES_LIMIT, initial=1, label="For how many people",
        help_text="1: the link works once. More: that many people can join with it.",
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_USES_LIMIT}),
    )  # fmt: skip
    expires_in_days = forms.TypedChoiceField(
        choices=[(1, "1 day"), (DEFAULT_DAYS, f"{DEFAULT_DAYS} days"), (30, "30 days"),
                 (90, "90 days")],
        coerce=int, initial=DEFAULT_DAYS, label="Expires after",
    )  # fmt: skip
    note = forms.CharField(
        max_length=200, required=False, label="Note",
        help_text="For the leads: who the link is for.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. March raters", "autocomplete": "off"}),
    )  # fmt: skip


class SignupForm(UserCreationForm):  # type: ignore[type-arg]
    """A new account from an invitation link: a username and a password, checked by Django's
    password validators (and a second time by the service). Never saved by the form: the view
    passes the cleaned values to `invitation_signup`."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(
            {"autocomplete": "username", "autofocus": True, "spellcheck": "false"}
        )
        self.fields["username"].help_text = "Letters, digits and @ . + - _ only."
        self.fields["password2"].help_text = ""
