"""Test data built through the real services where a service exists."""

from __future__ import annotations

import hashlib
from typing import Any

import factory
from django.contrib.auth import get_user_model

from labeling.members import membership_set
from projects.models import Item, LabelKind, Project, Role
from projects.services.projects import project_create

User = get_user_model()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")


DEFAULT_LABELS = [
    {"value": "positive", "display_name": "Positive", "color": "#2e9e5b", "hotkey": "1"},
    {"value": "negative", "display_name": "Negative", "color": "#d64545", "hotkey": "2"},
    {"value": "neutral", "display_name": "Neutral", "color": "#8a8f98", "hotkey": "3"},
]


def make_project(
    *, lead: Any, raters: list[Any] = (), labels: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Project:  # fmt: skip
    fields.setdefault("name", "Sentiment")
    fields.setdefault("label_kind", LabelKind.SINGLE)
    if fields["label_kind"] == LabelKind.RATING:
        fields.setdefault("rating_min", 1)
        fields.setdefault("rating_max", 5)
        labels = labels or []
    project = project_create(
        created_by=lead, labels=DEFAULT_LABELS if labels is None else labels, **fields
    )
    for rater in raters:
        membership_set(project=project, user=rater, role=Role.RATER)
    return project


def make_items(project: Project, count: int, *, prefix: str = "item") -> list[Item]:
    items = []
    for n in range(count):
        text = f"{prefix} number {n}: the service was fine."
        digest = hashlib.sha256(text.encode()).hexdigest()
        items.append(
            Item(
                project=project,
                key=f"{prefix}-{n}",
                text=text,
                content_hash=digest,
                shuffle_key=int(digest[:7], 16),
            )
        )
    return Item.objects.bulk_create(items)
