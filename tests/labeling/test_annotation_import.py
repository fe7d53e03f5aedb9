"""Importing annotations made elsewhere (`labeling.imports`): CSV and JSON Lines, the three kinds
of values, raters named by username or as external raters, bad files rejected whole, the same
file twice, changed values as revisions, the counters, the hook, retries, the command line and
the run on a real Celery worker.

alice leads the Sentiment project (k=2: positive, negative, neutral) and imports; bob and carol
rate in it; mallory leads a project of her own. Names such as worker-17 are a crowd's workers,
who have no account.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import RestrictedError
from django.test import Client
from django.utils import timezone

from core.jobs.models import JobStatus
from labeling import changes
from labeling.assignment import item_claim
from labeling.changes import ChangeReason, LabelsChanged, labels_changed_listen
from labeling.counters import counters_recount
from labeling.errors import NotAMember
from labeling.forms import AssignForm
from labeling.imports import (
    annotation_import_create,
    annotation_import_retry,
    annotation_import_run,
)
from labeling.lead_assignment import items_assign
from labeling.members import membership_remove, membership_set
from labeling.models import (
    Annotation,
    AnnotationImportJob,
    AnnotationLabel,
    AnnotationRevision,
    Assignment,
    AssignmentStatus,
)
from labeling.services import annotation_submit, item_skip
from projects.models import Item, ItemStatus, LabelKind, Membership, Project, Role
from projects.services.archive import project_archive
from tests.conftest import wait_for
from tests.factories import make_items, make_project

pytestmark = pytest.mark.django_db
User = get_user_model()

TAGS = [{"value": value, "display_name": value.title()} for value in ("bug", "billing", "praise")]


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """Stored uploads go to a fresh directory for each test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def items(project: Project) -> list[Item]:
    """item-0 .. item-5 in the Sentiment project."""
    return make_items(project, 6)


@pytest.fixture
def hooked() -> Any:
    """A listener on labeling.changes, as agreement registers one: records every call, with
    whether it ran inside a transaction and the item counts it saw there."""
    calls: list[dict[str, Any]] = []

    def listener(change: LabelsChanged) -> None:
        counts = dict(
            Item.objects.filter(pk__in=change.item_ids).values_list("key", "annotation_count")
        )
        calls.append({"change": change, "atomic": connection.in_atomic_block, "counts": counts})

    labels_changed_listen(listener)
    yield calls
    changes._listeners.remove(listener)


def upload(name: str, content: bytes | str) -> ContentFile[bytes]:
    return ContentFile(content.encode() if isinstance(content, str) else content, name=name)


def run_import(
    project: Project, user: Any, name: str, content: bytes | str, **options: Any
) -> AnnotationImportJob:
    """Create the job as an upload would, and run it here, as the task would."""
    job = annotation_import_create(
        project=project, uploaded_file=upload(name, content), created_by=user, source="api",
        enqueue=False, **options,
    )  # fmt: skip
    return annotation_import_run(job_id=job.pk)


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def labels_of(project: Project) -> dict[tuple[str, str], Any]:
    """Every annotation of the project as {(item key, rater's name): value}; an external
    rater by the name the file gave."""
    names = dict(
        Membership.objects.filter(project=project, is_external=True).values_list(
            "user_id", "external_name"
        )
    )
    annotations = (
        Annotation.objects.filter(project=project)
        .select_related("item", "rater", "label")
        .prefetch_related("chosen__label")
    )
    return {(a.item.key, names.get(a.rater_id, a.rater.username)): a.value for a in annotations}


def external(project: Project, name: str) -> Membership:
    return Membership.objects.select_related("user").get(
        project=project, is_external=True, external_name=name
    )


def error_texts(job: AnnotationImportJob) -> list[str]:
    return [error["text"] for error in job.errors]


def recount_is_clean(project: Project) -> None:
    report = counters_recount(project=project, fix=False)
    assert report.changes == []
    call_command("recount_counters", str(project.pk), "--check", stdout=io.StringIO(),
                 stderr=io.StringIO())  # fmt: skip


def state(item: Item) -> tuple[int, int, str]:
    item.refresh_from_db()
    return item.slots_taken, item.annotation_count, item.status


# --- formats and values ----------------------------------------------------------------------

CROWD_CSV = (
    "item_key,rater,value,created_at,time_spent_ms,hit_id\n"
    "item-0,worker-17,positive,2025-03-01T14:30:00Z,5400,h1\n"
    "item-0,bob,negative,2025-03-01T15:00:00+01:00,,h1\n"
    "item-1,worker-17,neutral,2025-03-02 09:00:00,1200,h2\n"
    "item-2,worker-9,positive,,,h3\n"
)


def test_a_csv_file_becomes_annotations_with_revisions_and_submitted_assignments(
    project, items, alice, bob
):
    job = run_import(project, alice, "crowd.csv", CROWD_CSV)

    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert (job.row_count, job.created_count, job.changed_count, job.unchanged_count) == (
        4,
        4,
        0,
        0,
    )
    assert (job.external_rater_count, job.closed_count, job.phase) == (2, 0, "done")
    assert job.message == (
        "Imported 4 new annotations and 0 changed values, from 2 new external raters; "
        "0 rows were already there."
    )
    assert labels_of(project) == {
        ("item-0", "worker-17"): "positive",
        ("item-0", "bob"): "negative",
        ("item-1", "worker-17"): "neutral",
        ("item-2", "worker-9"): "positive",
    }
    first = Annotation.objects.get(item=items[0], rater=external(project, "worker-17").user)
    assert first.created_at == datetime(2025, 3, 1, 14, 30, tzinfo=UTC)
    assert (first.time_spent_ms, first.revision, first.import_job_id) == (5400, 1, job.pk)
    bobs = Annotation.objects.get(item=items[0], rater=bob)
    assert bobs.created_at == datetime(2025, 3, 1, 14, 0, tzinfo=UTC)  # its offset kept
    # Without an offset, the server's TIME_ZONE (UTC here).
    naive = Annotation.objects.get(item=items[1])
    assert naive.created_at == datetime(2025, 3, 2, 9, 0, tzinfo=UTC)
    revision = AnnotationRevision.objects.get(annotation=first)
    assert (revision.revision, revision.value, revision.time_spent_ms) == (1, "positive", 5400)
    assert revision.client_id == first.client_id
    assert revision.created_at == first.created_at
    held = Assignment.objects.filter(project=project).values_list("status", flat=True)
    assert sorted(held) == [AssignmentStatus.SUBMITTED] * 4
    recount_is_clean(project)


def test_a_json_lines_file_takes_typed_values(project, items, alice):
    content = jsonl(
        {"item_key": "item-0", "rater": "worker-1", "value": "neutral", "time_spent_ms": 800},
        {"item_key": "item-1", "rater": 1017, "value": "positive", "extra": {"any": "thing"}},
    )
    job = run_import(project, alice, "crowd.jsonl", content)

    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert labels_of(project) == {("item-0", "worker-1"): "neutral", ("item-1", "1017"): "positive"}
    assert job.format == "jsonl"


def test_multi_label_values_as_a_json_list_or_a_pipe_separated_string(alice, bob):
    project = make_project(lead=alice, raters=[bob], name="Tags", label_kind=LabelKind.MULTI,
                           labels=TAGS)  # fmt: skip
    make_items(project, 4)
    csv_file = (
        'item_key,rater,value\nitem-0,bob,billing|bug\nitem-1,bob,"[""praise""]"\nitem-2,bob,[]\n'
    )
    lines = jsonl(
        {"item_key": "item-3", "rater": "bob", "value": ["praise", "bug"]},
        {"item_key": "item-0", "rater": "worker-2", "value": "bug | praise"},
    )

    assert run_import(project, alice, "tags.csv", csv_file).status == JobStatus.SUCCEEDED
    assert run_import(project, alice, "tags.jsonl", lines).status == JobStatus.SUCCEEDED

    assert labels_of(project) == {
        ("item-0", "bob"): ["billing", "bug"],
        ("item-1", "bob"): ["praise"],
        ("item-2", "bob"): [],  # none of the labels
        ("item-3", "bob"): ["bug", "praise"],
        ("item-0", "worker-2"): ["bug", "praise"],
    }
    none = Annotation.objects.get(item__key="item-2")
    assert (none.label_id, none.rating, none.chosen.count()) == (None, None, 0)
    assert AnnotationRevision.objects.get(annotation=none).value == []
    recount_is_clean(project)


def test_ratings_are_whole_numbers_within_the_scale(alice, bob):
    project = make_project(lead=alice, raters=[bob], name="Stars", label_kind=LabelKind.RATING,
                           rating_min=1, rating_max=5)  # fmt: skip
    make_items(project, 4)
    good = "item_key,rater,value\nitem-0,bob,5\nitem-1,bob,1.0\n"
    assert run_import(project, alice, "stars.csv", good).status == JobStatus.SUCCEEDED
    lines = jsonl({"item_key": "item-2", "rater": "bob", "value": 3})
    assert run_import(project, alice, "stars.jsonl", lines).status == JobStatus.SUCCEEDED
    assert labels_of(project) == {("item-0", "bob"): 5, ("item-1", "bob"): 1, ("item-2", "bob"): 3}
    assert Annotation.objects.get(item__key="item-0").rating == 5

    bad = run_import(
        project, alice, "bad.csv",
        "item_key,rater,value\nitem-3,bob,6\nitem-3,carol,2.5\nitem-3,dave,great\n",
    )  # fmt: skip

    assert bad.status == JobStatus.FAILED
    assert error_texts(bad) == [
        "line 2, field 'value', value '6': rating 6.0 is outside the scale 1..5.",
        "line 3, field 'value', value '2.5': value 2.5 must be a whole number.",
        "line 4, field 'value', value 'great': must be a whole number from 1 to 5.",
    ]


def test_archived_labels_are_accepted_for_history(project, items, alice):
    project.labels.filter(value="neutral").update(archived=True)

    job = run_import(project, alice, "old.csv", "item_key,rater,value\nitem-0,worker-1,neutral\n")

    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert labels_of(project) == {("item-0", "worker-1"): "neutral"}


def test_csv_headers_match_ignoring_case_and_spaces_and_other_columns_are_ignored(
    project, items, alice
):
    content = " Item_Key ;RATER; Value ;Comment\nitem-0;worker-1;positive;looks fine\n"

    job = run_import(project, alice, "semicolons.csv", content)

    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert labels_of(project) == {("item-0", "worker-1"): "positive"}


# --- raters ------------------------------------------------------------------------------------


def test_a_members_username_means_that_member_and_any_other_name_an_external_rater(
    project, items, alice, bob, mallory
):
    """mallory has an account but is no member here: her name in the file is an external rater
    of this project, not her."""
    job = run_import(
        project, alice, "r.csv",
        "item_key,rater,value\nitem-0,bob,positive\nitem-0,mallory,negative\n",
    )  # fmt: skip

    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert Annotation.objects.filter(rater=bob).count() == 1
    assert not Annotation.objects.filter(rater=mallory).exists()
    stand_in = external(project, "mallory")
    assert stand_in.user != mallory and stand_in.role == Role.RATER
    assert not Membership.objects.filter(project=project, user=mallory).exists()


def test_external_raters_are_made_once_and_can_never_sign_in(project, items, alice):
    run_import(project, alice, "a.csv", "item_key,rater,value\nitem-0,worker-17,positive\n")
    run_import(
        project, alice, "b.csv",
        "item_key,rater,value\nitem-1,worker-17,negative\nitem-2,worker-18,neutral\n",
    )  # fmt: skip

    seventeen = external(project, "worker-17")
    assert Annotation.objects.filter(rater=seventeen.user).count() == 2
    assert Membership.objects.filter(project=project, is_external=True).count() == 2
    user = seventeen.user
    assert user.username == f"ext:{project.pk}:1"  # a colon: no person can choose it
    assert user.first_name == "worker-17"
    assert (user.is_active, user.has_usable_password()) == (False, False)
    assert not Client().login(username=user.username, password="")
    # The username rules every sign-up and admin form applies refuse the colon.
    with pytest.raises(ValidationError):
        User._meta.get_field("username").run_validators(user.username)
    jobs = AnnotationImportJob.objects.order_by("pk")
    assert [job.external_rater_count for job in jobs] == [1, 1]


def test_external_raters_of_two_projects_are_different_people(project, items, alice, mallory):
    theirs = Project.objects.get(name="Mallory's own project")
    make_items(theirs, 1)
    run_import(project, alice, "a.csv", "item_key,rater,value\nitem-0,worker-17,positive\n")
    run_import(theirs, mallory, "a.csv", "item_key,rater,value\nitem-0,worker-17,positive\n")

    assert external(project, "worker-17").user != external(theirs, "worker-17").user
    assert external(theirs, "worker-17").user.username == f"ext:{theirs.pk}:1"


def test_external_raters_are_shown_as_such_and_kept_out_of_the_queue(project, items, alice, bob):
    run_import(project, alice, "a.csv", "item_key,rater,value\nitem-0,worker-17,positive\n")
    stand_in = external(project, "worker-17")
    client = Client()
    client.force_login(alice)

    page = client.get(f"/projects/{project.pk}/members/").content.decode()
    assert "worker-17" in page and ">external</span>" in page
    assert f"/members/{stand_in.pk}/remove/" not in page  # no Remove, no role to change
    assert f'id="role-{stand_in.pk}"' not in page
    item_page = client.get(f"/projects/{project.pk}/items/{items[0].pk}/").content.decode()
    assert "worker-17" in item_page and ">external</span>" in item_page and "imported" in item_page

    form = AssignForm(project=project)
    assert stand_in.user not in form.fields["rater"].queryset  # type: ignore[attr-defined]
    assert bob in form.fields["rater"].queryset  # type: ignore[attr-defined]
    with pytest.raises(NotAMember, match="worker-17 is an external rater"):
        items_assign(
            project=project, rater=stand_in.user, assigned_by=alice, item_ids=[items[1].pk]
        )
    with pytest.raises(NotAMember):
        item_claim(project=project, rater=stand_in.user)
    with pytest.raises(ValidationError, match="worker-17 is an external rater"):
        membership_remove(membership=stand_in)
    with pytest.raises(ValidationError, match="external rater"):
        membership_set(project=project, user=stand_in.user, role=Role.LEAD)
    theirs = Project.objects.create(name="Elsewhere")
    with pytest.raises(ValidationError, match="external rater"):
        membership_set(project=theirs, user=stand_in.user, role=Role.RATER)


# --- the same file again, changed values -------------------------------------------------------


def test_the_same_file_again_adds_nothing(project, items, alice, hooked):
    run_import(project, alice, "crowd.csv", CROWD_CSV)
    before = {item.key: (*state(item), item.change_count) for item in items}
    hooked.clear()

    again = run_import(project, alice, "crowd.csv", CROWD_CSV)

    assert again.status == JobStatus.SUCCEEDED
    assert (again.created_count, again.changed_count, again.unchanged_count) == (0, 0, 4)
    assert again.external_rater_count == 0
    assert again.message == (
        "Imported 0 new annotations and 0 changed values; 4 rows were already there."
    )
    assert AnnotationRevision.objects.count() == 4 and Annotation.objects.count() == 4
    assert Assignment.objects.count() == 4
    assert {item.key: (*state(item), item.change_count) for item in items} == before
    assert hooked == []  # nothing changed: agreement is not asked
    recount_is_clean(project)


def test_a_changed_value_is_a_new_revision_of_the_same_annotation(project, items, alice, hooked):
    run_import(project, alice, "crowd.csv", CROWD_CSV)
    first = Annotation.objects.get(item=items[0], rater=external(project, "worker-17").user)
    item = Item.objects.get(pk=items[0].pk)
    hooked.clear()

    changed = run_import(
        project, alice, "crowd-v2.csv",
        CROWD_CSV.replace("item-0,worker-17,positive,2025-03-01T14:30:00Z,5400",
                          "item-0,worker-17,neutral,2025-03-04T10:00:00Z,600"),
    )  # fmt: skip

    assert (changed.created_count, changed.changed_count, changed.unchanged_count) == (0, 1, 3)
    now = Annotation.objects.get(pk=first.pk)  # the same annotation: lineage kept
    assert (now.value, now.revision, now.time_spent_ms) == ("neutral", 2, 6000)
    assert now.created_at == first.created_at
    assert list(now.revisions.values_list("revision", "value")) == [(1, "positive"), (2, "neutral")]
    second = now.revisions.get(revision=2)
    assert second.created_at == datetime(2025, 3, 4, 10, tzinfo=UTC)
    assert second.client_id != first.client_id
    after = Item.objects.get(pk=item.pk)
    assert after.change_count == item.change_count + 1
    assert (after.slots_taken, after.annotation_count, after.status) == (
        item.slots_taken, item.annotation_count, item.status,
    )  # fmt: skip
    assert [call["change"].item_ids for call in hooked] == [[items[0].pk]]
    recount_is_clean(project)


def test_a_changed_multi_label_value_replaces_the_chosen_labels(alice, bob):
    project = make_project(lead=alice, raters=[bob], name="Tags", label_kind=LabelKind.MULTI,
                           labels=TAGS)  # fmt: skip
    make_items(project, 1)
    run_import(project, alice, "a.csv", "item_key,rater,value\nitem-0,bob,bug|billing\n")

    job = run_import(project, alice, "b.csv", "item_key,rater,value\nitem-0,bob,praise\n")

    assert job.changed_count == 1
    annotation = Annotation.objects.get(rater=bob)
    chosen = AnnotationLabel.objects.filter(annotation=annotation).values_list("label__value")
    assert sorted(value for (value,) in chosen) == ["praise"]
    assert annotation.revision == 2
    # The same set in another order is the same value.
    again = run_import(project, alice, "c.csv", 'item_key,rater,value\nitem-0,bob,"[""praise""]"\n')
    assert (again.changed_count, again.unchanged_count) == (0, 1)


def test_an_import_changes_a_members_own_label_as_a_revision(project, items, alice, bob):
    hold = item_claim(project=project, rater=bob)[0]
    annotation_submit(project=project, item_id=hold.item.pk, rater=bob, value="positive",
                      client_id=uuid.uuid4())  # fmt: skip

    job = run_import(project, alice, "fix.csv",
                     f"item_key,rater,value\n{hold.item.key},bob,negative\n")  # fmt: skip

    assert job.changed_count == 1
    mine = Annotation.objects.get(rater=bob)
    assert (mine.value, mine.revision, mine.import_job_id) == ("negative", 2, None)
    recount_is_clean(project)


# --- counters, slots, statuses -----------------------------------------------------------------


def test_items_and_members_counters_follow_the_imported_labels(project, items, alice, bob):
    """k=2: one label puts an item in progress, two make it labeled, and agreement (listening
    in the batch's transaction) finds the two alike; bob's total counts his imported labels,
    his count for today does not (they are history)."""
    content = (
        "item_key,rater,value\nitem-0,bob,positive\nitem-0,worker-1,positive\nitem-1,bob,negative\n"
    )
    job = run_import(project, alice, "a.csv", content)

    assert job.status == JobStatus.SUCCEEDED
    assert state(items[0]) == (2, 2, ItemStatus.AGREED)
    assert state(items[1]) == (1, 1, ItemStatus.IN_PROGRESS)
    assert state(items[2]) == (0, 0, ItemStatus.OPEN)
    assert Item.objects.get(pk=items[0].pk).change_count == 1
    bobs = Membership.objects.get(project=project, user=bob)
    assert (bobs.labeled_total, bobs.labeled_today) == (2, 0)
    assert external(project, "worker-1").labeled_total == 1
    recount_is_clean(project)


def test_a_member_with_an_imported_label_never_gets_that_item_from_the_queue(
    project, items, alice, bob
):
    run_import(project, alice, "a.csv",
               "item_key,rater,value\nitem-0,bob,positive\nitem-1,bob,positive\n")  # fmt: skip

    given = []
    while holds := item_claim(project=project, rater=bob):
        given.append(holds[0].item.key)
        item_skip(item=holds[0].item, rater=bob)

    assert sorted(given) == ["item-2", "item-3", "item-4", "item-5"]


def test_a_label_for_an_item_the_rater_holds_or_skipped_takes_the_slot_as_a_submit(
    project, items, alice, bob, carol
):
    held, skipped = items[0], items[1]
    items_assign(project=project, rater=bob, assigned_by=alice, item_ids=[held.pk])  # a slot
    items_assign(project=project, rater=carol, assigned_by=alice, item_ids=[skipped.pk])
    item_skip(item=skipped, rater=carol)  # gave the slot back
    assert state(held)[0] == 1 and state(skipped)[0] == 0
    content = f"item_key,rater,value\n{held.key},bob,positive\n{skipped.key},carol,neutral\n"

    run_import(project, alice, "a.csv", content)

    assert state(held) == (1, 1, ItemStatus.IN_PROGRESS)
    assert state(skipped) == (1, 1, ItemStatus.IN_PROGRESS)
    statuses = dict(Assignment.objects.values_list("rater__username", "status"))
    assert statuses == {"bob": AssignmentStatus.SUBMITTED, "carol": AssignmentStatus.SUBMITTED}
    assert Assignment.objects.get(rater=bob).expires_at is None
    recount_is_clean(project)


def test_a_crowd_of_more_raters_than_k_fills_the_item_past_its_slots(project, items, alice, bob):
    """39 workers labeled item-0: the item holds 39 labels, every slot is spent (the schema's
    check that labels never outnumber slots holds), and no member gets it from the queue."""
    rows = "".join(f"item-0,worker-{n},positive\n" for n in range(39))

    job = run_import(project, alice, "crowd.csv", "item_key,rater,value\n" + rows)

    assert (job.created_count, job.external_rater_count) == (39, 39)
    assert state(items[0]) == (39, 39, ItemStatus.AGREED)  # all in, and all alike
    assert all(
        hold.item.pk != items[0].pk for hold in item_claim(project=project, rater=bob, hold=3)
    )
    recount_is_clean(project)


def test_items_a_lead_has_resolved_are_left_out(project, items, alice):
    Item.objects.filter(pk=items[1].pk).update(status=ItemStatus.RESOLVED)

    content = "item_key,rater,value\nitem-0,worker-1,positive\nitem-1,worker-1,positive\n"

    job = run_import(project, alice, "a.csv", content)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.created_count, job.closed_count, job.unchanged_count) == (1, 1, 0)
    assert "1 row was left out: a lead has resolved their items." in job.message
    assert labels_of(project) == {("item-0", "worker-1"): "positive"}


def test_the_hook_hears_of_each_batch_inside_its_transaction(project, items, alice, hooked):
    job = run_import(project, alice, "crowd.csv", CROWD_CSV)

    assert len(hooked) == 1
    call = hooked[0]
    change = call["change"]
    assert change.reason == ChangeReason.IMPORT and change.actor_id == alice.pk
    assert change.project == project
    assert change.item_ids == [items[0].pk, items[1].pk, items[2].pk]
    assert change.statuses == {items[0].pk: ItemStatus.LABELED, items[1].pk: "in_progress",
                               items[2].pk: "in_progress"}  # fmt: skip
    # It ran where it sees the batch's labels, in the transaction that writes them.
    assert call["atomic"] and call["counts"] == {"item-0": 2, "item-1": 1, "item-2": 1}
    assert job.status == JobStatus.SUCCEEDED


# --- bad files ---------------------------------------------------------------------------------


def test_a_bad_file_is_rejected_whole_naming_line_field_and_value(project, items, alice):
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    content = (
        "item_key,rater,value,created_at,time_spent_ms\n"
        "item-0,worker-1,positive,,\n"  # fine
        "nope,worker-1,positive,,\n"
        "item-1,worker-1,postive,,\n"
        "item-2,,positive,,\n"
        "item-3,worker-1,positive,yesterday,\n"
        f"item-3,worker-2,positive,{tomorrow},\n"
        "item-4,worker-1,positive,,-5\n"
        "item-4,worker-2,positive,,1.5\n"
        "item-0,worker-1,negative,,\n"  # a second label of worker-1 on item-0
    )

    job = run_import(project, alice, "bad.csv", content)

    assert job.status == JobStatus.FAILED and job.phase == "rejected"
    assert error_texts(job) == [
        "line 3, field 'item_key', value 'nope': no item of this project has this key.",
        "line 4, field 'value', value 'postive': value 'postive' is not a label of this "
        "project; use one of ['negative', 'neutral', 'positive'].",
        "line 5, field 'rater': missing: every row needs a rater.",
        "line 6, field 'created_at', value 'yesterday': is not an ISO 8601 date and time, "
        "such as 2024-05-01T14:30:00Z.",
        f"line 7, field 'created_at', value '{tomorrow}': is in the future.",
        "line 8, field 'time_spent_ms', value '-5': must be a whole number of milliseconds, "
        "0 or more.",
        "line 9, field 'time_spent_ms', value '1.5': must be a whole number of milliseconds, "
        "0 or more.",
        "line 10, field 'rater', value 'worker-1': labels item 'item-0' a second time (first "
        "at line 2): keep one row per item and rater.",
    ]
    assert job.error_count == 8
    assert job.message == (
        "The file was rejected: 8 problems. Nothing was imported; fix the file and upload it again."
    )
    # Nothing was written: no label, no slot, no external rater.
    assert not Annotation.objects.exists() and not Assignment.objects.exists()
    assert not Membership.objects.filter(is_external=True).exists()
    assert not User.objects.filter(username__startswith="ext:").exists()
    assert all(state(item) == (0, 0, ItemStatus.OPEN) for item in items)


def test_a_bad_last_row_of_thousands_keeps_nothing(project, alice):
    make_items(project, 3000, prefix="m")
    rows = "".join(f"m-{n},worker-{n % 7},positive\n" for n in range(3000))

    job = run_import(project, alice, "big.csv",
                     "item_key,rater,value\n" + rows + "m-9999,worker-1,positive\n")  # fmt: skip

    assert job.status == JobStatus.FAILED
    assert error_texts(job) == [
        "line 3002, field 'item_key', value 'm-9999': no item of this project has this key."
    ]
    assert Annotation.objects.count() == 0


def test_errors_are_capped_with_a_count_of_the_rest(project, items, alice, settings):
    settings.ACCORD_IMPORT_ERROR_LIMIT = 3
    rows = "".join(f"x-{n},worker-1,positive\n" for n in range(10))

    job = run_import(project, alice, "bad.csv", "item_key,rater,value\n" + rows)

    assert (len(job.errors), job.error_count) == (3, 10)
    assert "(the first 3 are listed)" in job.message


def test_a_header_without_a_needed_column_is_one_error(project, items, alice):
    job = run_import(project, alice, "bad.csv", "item_key,worker,label\nitem-0,w,positive\n")

    assert error_texts(job) == [
        "line 1: the header has no rater, value column (every row needs item_key, rater, "
        "value; created_at and time_spent_ms are optional)."
    ]


def test_json_lines_errors_name_the_line(project, items, alice):
    content = (
        jsonl({"item_key": "item-0", "rater": "w", "value": "positive"})
        + "{not json\n"
        + jsonl({"item_key": "item-1", "value": "positive"})
        + jsonl({"item_key": "item-2", "rater": ["w"], "value": "positive"})
        + jsonl({"item_key": "item-\u0000", "rater": "w\u0000", "value": "positive"})
    )

    job = run_import(project, alice, "bad.jsonl", content)

    assert error_texts(job) == [
        "line 2: not valid JSON: Expecting property name enclosed in double quotes (column 2).",
        "line 3, field 'rater': missing: every row needs a rater.",
        """line 4, field 'rater', value '["w"]': must be a string.""",
        "line 5, field 'item_key', value 'item-\u2400': contains a NUL character.",
        "line 5, field 'rater', value 'w\u2400': contains a control character.",
    ]


def test_a_file_without_rows_is_rejected(project, alice):
    job = run_import(project, alice, "empty.csv", "item_key,rater,value\n")

    assert error_texts(job) == ["file: The file holds no annotations."]


def test_what_cannot_be_imported_creates_no_job(project, alice):
    with pytest.raises(ValidationError, match="JSON Lines"):
        annotation_import_create(
            project=project, uploaded_file=upload("a.json", '[{"item_key": "a"}]'),
            created_by=alice, source="ui",
        )  # fmt: skip
    with pytest.raises(ValidationError, match="empty"):
        annotation_import_create(project=project, uploaded_file=upload("a.csv", b""),
                                 created_by=alice, source="ui")  # fmt: skip
    project_archive(project=project)
    with pytest.raises(ValidationError, match="archived"):
        annotation_import_create(project=project, uploaded_file=upload("a.csv", CROWD_CSV),
                                 created_by=alice, source="ui")  # fmt: skip
    assert not AnnotationImportJob.objects.exists()


def test_a_job_stays_while_its_annotations_do_and_goes_with_its_project(project, items, alice):
    job = run_import(project, alice, "crowd.csv", CROWD_CSV)

    with pytest.raises(RestrictedError):
        job.delete()
    project.delete()

    assert not AnnotationImportJob.objects.exists() and not Annotation.objects.exists()


# --- runs, retries -----------------------------------------------------------------------------


def test_progress_is_reported_to_the_row_and_the_callback(project, alice):
    make_items(project, 2500, prefix="p")
    content = "item_key,rater,value\n" + "".join(f"p-{n},w,positive\n" for n in range(2500))
    job = annotation_import_create(project=project, uploaded_file=upload("p.csv", content),
                                   created_by=alice, source="cli", enqueue=False)  # fmt: skip
    calls: list[tuple[int, int | None]] = []

    job = annotation_import_run(job_id=job.pk, progress=lambda *call: calls.append(call))

    assert calls[0] == (0, 2500)
    assert (2500, 2500) in calls and calls[-1] == (2500, 2500)
    assert (job.progress, job.total, job.phase, job.row_count) == (2500, 2500, "done", 2500)


def test_a_succeeded_job_is_not_run_again(project, items, alice):
    job = run_import(project, alice, "crowd.csv", CROWD_CSV)

    again = annotation_import_run(job_id=job.pk)

    assert (again.status, again.attempts, again.created_count) == (JobStatus.SUCCEEDED, 1, 4)
    assert Annotation.objects.count() == 4


def test_a_job_retried_after_a_crash_midway_duplicates_nothing(
    project, alice, monkeypatch: pytest.MonkeyPatch
):
    """The listener fails on the second batch (as agreement's might): the first batch stays
    written, the job fails; the retry finds the first batch there and writes the rest."""
    monkeypatch.setattr("labeling.imports.jobs.BATCH_ROWS", 4)
    make_items(project, 5, prefix="r")
    content = "item_key,rater,value\n" + "".join(
        f"r-{n},{rater},positive\n" for n in range(5) for rater in ("bob", "worker-1")
    )
    calls = []

    def failing_on_the_second_batch(change: LabelsChanged) -> None:
        calls.append(change.item_ids)
        if len(calls) == 2:
            raise RuntimeError("the agreement step fell over")

    labels_changed_listen(failing_on_the_second_batch)
    try:
        job = annotation_import_create(project=project, uploaded_file=upload("r.csv", content),
                                       created_by=alice, source="ui", enqueue=False)  # fmt: skip
        with pytest.raises(RuntimeError):
            annotation_import_run(job_id=job.pk)
    finally:
        changes._listeners.remove(failing_on_the_second_batch)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "unexpected error" in job.message
    assert (job.created_count, Annotation.objects.count()) == (4, 4)  # the first batch

    annotation_import_retry(job=job)
    done = annotation_import_run(job_id=job.pk)  # what the queued task does

    assert done.status == JobStatus.SUCCEEDED and done.attempts == 2
    assert (done.created_count, done.changed_count, done.unchanged_count) == (10, 0, 0)
    assert done.external_rater_count == 1
    assert Annotation.objects.count() == 10 and AnnotationRevision.objects.count() == 10
    assert Membership.objects.filter(project=project, is_external=True).count() == 1
    recount_is_clean(project)


def test_a_job_interrupted_by_a_storage_failure_is_retried_safely(project, items, alice):
    job = annotation_import_create(project=project, uploaded_file=upload("c.csv", CROWD_CSV),
                                   created_by=alice, source="ui", enqueue=False)  # fmt: skip
    stored = default_storage.open(job.file.name).read()
    default_storage.delete(job.file.name)

    with pytest.raises(FileNotFoundError):
        annotation_import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED

    default_storage.save(job.file.name, ContentFile(stored))
    assert annotation_import_retry(job=job).status == JobStatus.PENDING
    done = annotation_import_run(job_id=job.pk)

    assert (done.status, done.attempts, done.created_count) == (JobStatus.SUCCEEDED, 2, 4)


def test_create_and_retry_enqueue_the_run_on_commit(
    project, items, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = annotation_import_create(project=project, uploaded_file=upload("c.csv", CROWD_CSV),
                                       created_by=alice, source="ui")  # fmt: skip
    assert len(callbacks) == 1 and job.status == JobStatus.PENDING
    assert job.queued_at is not None or AnnotationImportJob.objects.get(pk=job.pk).queued_at

    with pytest.raises(ValidationError, match="is pending"):
        annotation_import_retry(job=job)
    bad = run_import(project, alice, "bad.csv", "item_key,rater,value\nnope,w,positive\n")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        annotation_import_retry(job=bad)
    assert len(callbacks) == 1


def test_two_imports_naming_the_same_new_rater_make_one_external_rater(project, items, alice):
    """Both files were read before either made its raters (two workers at once); the second to
    make them finds the first's."""
    first = annotation_import_create(project=project, created_by=alice, source="ui",
        uploaded_file=upload("a.csv", "item_key,rater,value\nitem-0,worker-5,positive\n"),
        enqueue=False)  # fmt: skip
    second = annotation_import_create(project=project, created_by=alice, source="ui",
        uploaded_file=upload("b.csv", "item_key,rater,value\nitem-1,worker-5,negative\n"),
        enqueue=False)  # fmt: skip
    from labeling.imports.raters import external_raters_ensure

    made = external_raters_ensure(project=project, names=["worker-5"], job=first)
    again = external_raters_ensure(project=project, names=["worker-5"], job=second)

    assert made == again
    assert annotation_import_run(job_id=first.pk).external_rater_count == 1
    assert annotation_import_run(job_id=second.pk).external_rater_count == 0
    assert Annotation.objects.filter(rater_id=made["worker-5"]).count() == 2


# --- the command line --------------------------------------------------------------------------


def test_import_annotations_command_imports_and_reports(project, items, alice, tmp_path: Path):
    path = tmp_path / "crowd.csv"
    path.write_text(CROWD_CSV)
    out = io.StringIO()

    call_command("import_annotations", str(project.pk), str(path), "--user", "alice", stdout=out)
    call_command("import_annotations", str(project.pk), str(path), stdout=out)

    assert "created=4 changed=0 unchanged=0 closed=0 external_raters=2" in out.getvalue()
    assert "created=0 changed=0 unchanged=4 closed=0 external_raters=0" in out.getvalue()
    jobs = AnnotationImportJob.objects.order_by("pk")
    assert [(job.source, job.created_by) for job in jobs] == [("cli", alice), ("cli", None)]


def test_import_annotations_command_fails_with_the_errors(project, items, alice, tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text("item_key,rater,value\nitem-0,bob,great\n")
    err = io.StringIO()

    with pytest.raises(CommandError, match="The file was rejected: 1 problem"):
        call_command("import_annotations", str(project.pk), str(path), stderr=err,
                     stdout=io.StringIO())  # fmt: skip

    assert "line 2, field 'value', value 'great'" in err.getvalue()
    assert not Annotation.objects.exists()


def test_import_annotations_command_refuses_a_user_who_does_not_lead(project, bob, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(CROWD_CSV)

    with pytest.raises(CommandError, match="bob does not lead Sentiment"):
        call_command("import_annotations", str(project.pk), str(path), "--user", "bob")


# --- the background worker ---------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_upload_is_imported_by_the_worker(
    transactional_db: None, celery_worker_process: str, alice: Any, bob: Any, settings: Any
) -> None:
    """A real worker runs the import (through Redis, or through files on the embedded
    default); creating the job only stored the upload."""
    from django.conf import settings as live

    settings.MEDIA_ROOT = Path(live.VAR_DIR) / "test-media"  # where the worker reads uploads
    project = make_project(lead=alice, raters=[bob], name="Worker", raters_per_item=3)
    make_items(project, 300, prefix="w")
    content = "item_key,rater,value\n" + "".join(
        f"w-{n},{rater},positive\n" for n in range(300) for rater in ("bob", "w-1", "w-2")
    )

    with transaction.atomic():
        job = annotation_import_create(project=project, uploaded_file=upload("w.csv", content),
                                       created_by=alice, source="ui")  # fmt: skip
        assert job.status == JobStatus.PENDING

    def finished() -> AnnotationImportJob | None:
        row = AnnotationImportJob.objects.get(pk=job.pk)
        return row if row.is_finished else None

    done: AnnotationImportJob = wait_for(finished, timeout=60)
    assert done.status == JobStatus.SUCCEEDED, done.message
    assert (done.created_count, done.external_rater_count) == (900, 2)
    assert Item.objects.filter(project=project, status=ItemStatus.AGREED).count() == 300
    recount_is_clean(project)
    default_storage.delete(done.file.name)
