"""The rater's labeling page and the lead's assign page.

The labeling page is a shell: the server renders the project, its labels with their hotkeys and
the sanitized instructions, and hands the page's configuration to `static/js/labeling/main.js`
(the entry of the page's ES modules), which claims, shows and submits items through the labeling
API. Nothing here ever reads another rater's annotation.

A non-member gets 404 on both pages (they must not learn that a project exists); a rater gets 403
on the assign page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse

from labeling.errors import NotAMember
from labeling.forms import AssignForm
from labeling.lead_assignment import items_assign
from labeling.selectors import assigned_waiting_by_rater, items_open_for_rater
from projects.markdown import render_markdown
from projects.models import Item, Label, LabelKind, Membership, Project, Role
from projects.selectors import project_role

# Keys a label may get when its lead gave it none, in the order they are handed out. The page
# itself uses s (skip), u (back) and i (instructions), so those are never given; nor is 0, so
# that the keys of existing projects stay as they were when 0 still reset the zoom.
AUTO_HOTKEYS = "123456789abcdefghjklmnopqrtvwxyz"
# Resets an image's zoom: a key no label can have (hotkeys are one of [0-9a-z]) and no rating
# uses, so it works in every project. Esc does it too.
ZOOM_RESET_KEY = "."
RATING_BUTTONS_MAX = 11  # 0..10 still fits on one row; a wider scale gets a slider
# The label buttons' columns: wide enough for the longest name, within these bounds (in ch).
LABEL_NAME_CHARS = (2, 22)


@dataclass(frozen=True)
class LabelButton:
    value: str
    name: str
    color: str
    ink: str  # text colour readable on `color`
    hotkey: str


def _member_project(request: HttpRequest, project_id: int) -> tuple[Project, str]:
    """The project of the URL and the user's role, or 404 for a missing project and for a
    non-member alike."""
    project = Project.objects.filter(pk=project_id).first()
    role = project_role(project=project, user=request.user) if project else None
    if project is None or role is None:
        raise Http404("No such project.")
    return project, role


def _ink(color: str) -> str:
    """Black or white, whichever reads better on the colour (WCAG relative luminance)."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # Contrast with white is (1.05)/(L+0.05), with black (L+0.05)/0.05: pick the larger.
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 else "#111827"


def label_buttons(labels: list[Label]) -> list[LabelButton]:
    """The project's labels as buttons. A label without a hotkey gets the first free key of
    AUTO_HOTKEYS, so every label is one key away (as long as keys last)."""
    taken = {label.hotkey for label in labels if label.hotkey}
    spare = iter(key for key in AUTO_HOTKEYS if key not in taken)
    return [
        LabelButton(
            value=label.value,
            name=label.display_name or label.value,
            color=label.color,
            ink=_ink(label.color),
            hotkey=label.hotkey or next(spare, ""),
        )
        for label in labels
    ]


def _label_name_chars(buttons: list[LabelButton]) -> int:
    """The longest label name, in characters, within LABEL_NAME_CHARS: the label buttons line up
    in columns that fit it, so that ten one-digit labels take two rows, not four."""
    low, high = LABEL_NAME_CHARS
    return min(high, max([low, *(len(b.name) for b in buttons)]))


@login_required
def label(request: HttpRequest, project_id: int) -> HttpResponse:
    project, role = _member_project(request, project_id)
    assert isinstance(request.user, AbstractBaseUser)  # login_required
    if project.archived_at is not None:
        messages.info(request, f"“{project.name}” is archived: nobody labels in it now.")
        return redirect("project-detail", pk=project.pk)
    buttons = label_buttons(list(project.labels.filter(archived=False)))
    rating_values: list[int] = []
    if project.label_kind == LabelKind.RATING:
        assert project.rating_min is not None and project.rating_max is not None
        rating_values = list(range(project.rating_min, project.rating_max + 1))
    api_base = reverse("api-labeling-claim", args=[project.pk]).removesuffix("claim/")
    config: dict[str, Any] = {
        "projectId": project.pk,
        "userId": request.user.pk,
        "kind": project.label_kind,
        "contentType": project.content_type,
        "labels": [
            {"value": b.value, "name": b.name, "color": b.color, "hotkey": b.hotkey}
            for b in buttons
        ],
        "ratingMin": project.rating_min,
        "ratingMax": project.rating_max,
        "leaseMinutes": project.lease_minutes,
        "zoomResetKey": ZOOM_RESET_KEY,
        "apiBase": api_base,
        "homeUrl": reverse("home"),
        "csrfToken": get_token(request),
        # Superusers count as leads everywhere but can only label where they are members.
        "canLabel": Membership.objects.filter(project=project, user=request.user).exists(),
    }
    instructions_html = render_markdown(project.instructions)
    return render(
        request,
        "labeling/label.html",
        {
            "project": project,
            "role": role,
            "buttons": buttons,
            "rating_values": rating_values,
            "rating_as_buttons": 0 < len(rating_values) <= RATING_BUTTONS_MAX,
            "zoom_reset_key": ZOOM_RESET_KEY,
            "label_name_chars": _label_name_chars(buttons),
            "instructions_html": instructions_html,
            "config": config,
        },
    )


@dataclass(frozen=True)
class AssignOutcome:
    rater: str
    assigned: list[str]  # item keys
    already_held: list[str]
    full: list[str]
    unknown: list[str]

    @property
    def nothing_asked(self) -> bool:
        return not (self.assigned or self.already_held or self.full or self.unknown)


def _keys_of(item_ids: list[int]) -> list[str]:
    keys = dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "key"))
    return [keys.get(pk, str(pk)) for pk in item_ids]


@login_required
def assign(request: HttpRequest, project_id: int) -> HttpResponse:
    """A lead assigns a batch of items to a named member: pasted keys, or the next N items of
    the queue. Assigned items come first in that rater's queue and do not expire."""
    project, role = _member_project(request, project_id)
    if role != Role.LEAD:
        raise PermissionDenied("Only a lead of this project can assign items.")
    form = AssignForm(request.POST if request.method == "POST" else None, project=project)
    outcome: AssignOutcome | None = None
    if request.method == "POST" and form.is_valid():
        assert isinstance(request.user, AbstractBaseUser)  # login_required
        rater = form.cleaned_data["rater"]
        item_ids: list[int] = []
        keys: list[str] = []
        if form.cleaned_data["source"] == AssignForm.NEXT:
            item_ids = items_open_for_rater(
                project=project, rater=rater, limit=form.cleaned_data["count"]
            )
        else:
            keys = form.cleaned_data["keys"]
        try:
            result = items_assign(
                project=project, rater=rater, assigned_by=request.user, item_ids=item_ids, keys=keys
            )
        except NotAMember as error:
            form.add_error("rater", error.message)
        except ValidationError as error:  # an archived project
            form.add_error(None, error.messages)
        else:
            outcome = AssignOutcome(
                rater=rater.get_username(),
                assigned=_keys_of(result.assigned),
                already_held=_keys_of(result.already_held),
                full=_keys_of(result.full),
                unknown=result.unknown,
            )
    return render(
        request,
        "labeling/assign.html",
        {
            "project": project,
            # The shape `projects/_project_header.html` reads.
            "access": {"role": role, "is_lead": True},
            "active_tab": "assign",
            "form": form,
            "outcome": outcome,
            "waiting": assigned_waiting_by_rater(project=project),
        },
    )
