"""Forms of the labeling pages. They validate and shape input; the views call the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Subquery

from projects.models import Membership, Project

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
        self.fields["rater"].queryset = (  # type: ignore[attr-defined]
            get_user_model()
            .objects.filter(memberships__project=project)
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
