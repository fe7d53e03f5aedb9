"""What a conflict's resolution page shows, gathered in a fixed number of queries: the item,
every rater's label with their scorecard, the consensus under the project's rule, the item's
history, and the decision's choices with their keys."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.safestring import SafeString

from agreement.admin.display import NO_FIGURE, percent, status_html
from agreement.models import (
    Conflict,
    ConflictStatus,
    EventKind,
    ItemAgreement,
    ItemEvent,
    LabelOfRecord,
    RaterQuality,
    Resolution,
)
from labeling.selectors import item_raters
from labeling.views.items import SMALL_IMAGE_SHOWN, SMALL_IMAGE_SIDE, Chip, duration, value_chips
from labeling.views.label import label_buttons
from projects.markdown import render_markdown
from projects.models import AgreementRule, Item, Label, LabelKind, Membership, Project

# The page's own keys. A label may have taken one of them (hotkeys are any of [0-9a-z] but s, u
# and i): the page's action then moves to the key with Shift.
SKIP_KEY, INSTRUCTIONS_KEY, UNDO_KEY = "s", "i", "u"
MORE_KEY, AMBIGUOUS_KEY, NOTE_KEY, REOPEN_KEY = "m", "a", "n", "r"
RULES_WITH_THRESHOLD = (AgreementRule.MIN_SHARE, AgreementRule.DAWID_SKENE, AgreementRule.WEIGHTED)


@dataclass(frozen=True)
class Keys:
    more: str
    ambiguous: str
    note: str
    reopen: str
    skip: str = SKIP_KEY
    instructions: str = INSTRUCTIONS_KEY
    undo: str = UNDO_KEY

    @classmethod
    def around(cls, taken: Collection[str]) -> Keys:
        def free(key: str) -> str:
            return key.upper() if key in taken else key

        return cls(
            more=free(MORE_KEY), ambiguous=free(AMBIGUOUS_KEY), note=free(NOTE_KEY),
            reopen=free(REOPEN_KEY),
        )  # fmt: skip


@dataclass(frozen=True)
class Choice:
    """One value the lead may choose: a label (with its colour) or a rating."""

    value: str  # as posted
    name: str
    color: str  # empty for a rating
    ink: str
    hotkey: str
    votes: int  # raters whose label has it
    share: float  # of the raters, in per cent
    checked: bool  # multi-label: ticked when the page opens


@dataclass(frozen=True)
class Scorecard:
    """A rater's figures in the project from the last full recompute, as the page words them."""

    agreement: str  # with the majority of the other raters on the same items
    agreement_items: int
    gold: str  # right answers of gold items
    gold_share: str
    dawid_skene: str  # the label model's estimate of the rater's accuracy

    @classmethod
    def of(cls, quality: RaterQuality) -> Scorecard:
        gold = f"{quality.gold_correct}/{quality.gold_items}" if quality.gold_items else NO_FIGURE
        return cls(
            agreement=percent(quality.loo_agreement), agreement_items=quality.loo_items,
            gold=gold, gold_share=percent(quality.gold_accuracy),
            dawid_skene=percent(quality.ds_accuracy),
        )  # fmt: skip


@dataclass(frozen=True)
class RaterLine:
    name: str
    is_external: bool
    state: str  # labeled, skipped, leased, assigned, expired
    chips: list[Chip]
    revision: int  # how many values the label has held
    time_spent: str
    note: str  # a skip's reason
    scorecard: Scorecard | None  # None: no full recompute has scored the rater yet


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    who: str
    text: str
    kind: str
    # A decision that changed the item's label of record: from what to what (None: no label).
    changed: bool = False
    before: list[Chip] | None = None
    after: list[Chip] | None = None
    note: str = ""


@dataclass(frozen=True)
class ConflictPage:
    conflict: Conflict
    item: Item
    project: Project
    agreement: ItemAgreement | None
    consensus_chips: list[Chip]
    rule: str
    record: LabelOfRecord | None
    record_chips: list[Chip]
    raters: list[RaterLine]
    choices: list[Choice]
    history: list[HistoryLine]
    instructions_html: str
    keys: Keys
    image_size: tuple[int, int] | None  # a small image's enlarged size; None to fit

    @property
    def is_open(self) -> bool:
        return self.conflict.is_open

    @property
    def can_resolve(self) -> bool:
        return self.is_open and not self.project.is_archived

    @property
    def can_ask_more(self) -> bool:
        return self.conflict.status == ConflictStatus.OPEN and not self.project.is_archived

    @property
    def can_reopen(self) -> bool:
        closed = self.conflict.status in (ConflictStatus.RESOLVED, ConflictStatus.AMBIGUOUS)
        return closed and not self.project.is_archived

    @property
    def observed(self) -> str:
        return percent(self.agreement.observed if self.agreement is not None else None)

    @property
    def confidence(self) -> str:
        return percent(self.agreement.confidence if self.agreement is not None else None)

    @property
    def status_badge(self) -> SafeString:
        return status_html(self.conflict.status, str(self.conflict.get_status_display()))

    @property
    def is_rating(self) -> bool:
        return self.project.label_kind == LabelKind.RATING

    @property
    def is_multi(self) -> bool:
        return self.project.label_kind == LabelKind.MULTI

    @property
    def labeled(self) -> int:
        return sum(line.state == "labeled" for line in self.raters)


def person(user: Any, membership: Membership | None = None) -> str:
    """How the page names someone: an external rater by the name in the imported file."""
    if user is None:
        return "Accord"
    if membership is not None and membership.is_external and membership.external_name:
        return membership.external_name
    return str(user.get_full_name() or user.get_username())


def _votes(project: Project, values: list[Any]) -> Counter[str]:
    """How many raters' labels have each value (each label, for multi-label), by posted form."""
    counts: Counter[str] = Counter()
    for value in values:
        if project.label_kind == LabelKind.MULTI:
            counts.update(str(label) for label in set(value or []))
        else:
            counts[str(value)] += 1
    return counts


def _share(votes: int, n: int) -> float:
    return round(100 * votes / n, 1) if n else 0.0


def _choices(
    project: Project, labels: list[Label], votes: Counter[str], n: int,
    checked: Collection[str] | None,
) -> list[Choice]:  # fmt: skip
    if project.label_kind == LabelKind.RATING:
        assert project.rating_min is not None and project.rating_max is not None
        return [
            Choice(
                value=str(r),
                name=str(r),
                color="",
                ink="",
                hotkey=str(r) if 0 <= r <= 9 else "",
                votes=votes[str(r)],
                share=_share(votes[str(r)], n),
                checked=False,
            )
            for r in range(project.rating_min, project.rating_max + 1)
        ]
    return [
        Choice(
            value=b.value,
            name=b.name,
            color=b.color,
            ink=b.ink,
            hotkey=b.hotkey,
            votes=votes[b.value],
            share=_share(votes[b.value], n),
            # Multi-label: what more than half of the raters chose is ticked, so that the lead
            # decides only the labels they split on.
            checked=(b.value in checked) if checked is not None else 2 * votes[b.value] > n,
        )
        for b in label_buttons([label for label in labels if not label.archived])
    ]


def _rule(project: Project) -> str:
    rule = str(project.get_agreement_rule_display())
    if project.agreement_rule in RULES_WITH_THRESHOLD:
        rule += f" (threshold {project.agreement_threshold:.0%})"
    return rule


def _image_size(item: Item) -> tuple[int, int] | None:
    """A small image is shown enlarged by a whole factor, as on the lead's item page."""
    image = item.image
    if image is None or max(image.width, image.height) >= SMALL_IMAGE_SIDE:
        return None
    factor = max(1, SMALL_IMAGE_SHOWN // max(image.width, image.height))
    return image.width * factor, image.height * factor


def _history(conflict: Conflict, names: dict[int, str], chips: Any) -> list[HistoryLine]:
    """The item's agreement history and the lead's decisions on it, oldest first. A decision is
    shown from its Resolution row (from what to what, the note), not from the event line the
    service also writes."""
    events = (
        ItemEvent.objects.filter(item_id=conflict.item_id)
        .exclude(kind=EventKind.RESOLUTION)
        .select_related("actor")
    )
    resolutions = Resolution.objects.filter(conflict=conflict).select_related("lead")
    lines: list[tuple[datetime, int, int, HistoryLine]] = []
    for event in events:
        who = names.get(event.actor_id or 0) or person(event.actor)
        line = HistoryLine(at=event.created_at, who=who, text=event.message, kind=event.kind)
        lines.append((event.created_at, 1, event.pk, line))
    for resolution in resolutions:
        before, after = resolution.value_before, resolution.value_after
        line = HistoryLine(
            at=resolution.created_at, who=person(resolution.lead),
            text=str(resolution.get_action_display()), kind=resolution.action,
            changed=before != after, before=None if before is None else chips(before),
            after=None if after is None else chips(after), note=resolution.note,
        )  # fmt: skip
        lines.append((resolution.created_at, 0, resolution.pk, line))
    return [line for *_, line in sorted(lines, key=lambda entry: entry[:3])]


def conflict_page(*, conflict: Conflict, checked: Collection[str] | None = None) -> ConflictPage:
    """Everything the resolution page shows about `conflict` (loaded with its item, the item's
    image and its project). `checked`: the multi-label values a refused decision had ticked."""
    item, project = conflict.item, conflict.project
    item.project = project  # the same row, loaded with the conflict
    labels = list(project.labels.all())
    by_value = {label.value: label for label in labels}

    def chips(value: Any) -> list[Chip]:
        return value_chips(value, project=project, labels=by_value)

    agreement = ItemAgreement.objects.filter(item_id=item.pk).first()
    consensus = agreement.consensus if agreement is not None else None
    record = LabelOfRecord.objects.filter(item_id=item.pk).first()
    entries = item_raters(item=item)
    rater_ids = [entry.rater.pk for entry in entries]
    memberships = {
        m.user_id: m for m in Membership.objects.filter(project=project, user_id__in=rater_ids)
    }
    qualities = {
        q.rater_id: q for q in RaterQuality.objects.filter(project=project, rater_id__in=rater_ids)
    }
    raters = []
    for entry in entries:
        membership = memberships.get(entry.rater.pk)
        quality = qualities.get(entry.rater.pk)
        annotation, assignment = entry.annotation, entry.assignment
        value = annotation.value if annotation is not None else None
        raters.append(
            RaterLine(
                name=person(entry.rater, membership),
                is_external=bool(membership and membership.is_external),
                state=entry.state,
                chips=chips(value),
                revision=annotation.revision if annotation is not None else 0,
                # No time for a label given elsewhere (imported) or by a client that kept none.
                time_spent=duration(annotation.time_spent_ms)
                if annotation is not None and annotation.time_spent_ms
                else "",
                note=assignment.skip_reason if assignment is not None else "",
                scorecard=Scorecard.of(quality) if quality is not None else None,
            )
        )
    values = [entry.annotation.value for entry in entries if entry.annotation is not None]
    choices = _choices(project, labels, _votes(project, values), len(values), checked)
    names = {entry.rater.pk: line.name for entry, line in zip(entries, raters, strict=True)}
    return ConflictPage(
        conflict=conflict, item=item, project=project, agreement=agreement,
        consensus_chips=chips(consensus), rule=_rule(project), record=record,
        record_chips=chips(record.value) if record is not None else [], raters=raters,
        choices=choices, history=_history(conflict, names, chips),
        instructions_html=render_markdown(project.instructions),
        keys=Keys.around({choice.hotkey for choice in choices if choice.hotkey}),
        image_size=_image_size(item),
    )  # fmt: skip
