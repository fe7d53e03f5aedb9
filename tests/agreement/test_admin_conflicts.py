"""Leads resolve conflicts in the Django admin: the queue, the resolution page and its decisions.

alice (staff) leads "Sentiment" (k = 3, unanimous rule), where bob, carol and dave label;
mallory (staff) leads "Spam", where erin and bob label; root is a superuser. Every label goes in
through the real services (a lead's assignment and a submit), so the conflicts arise as they do
in use.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

import pytest
from django.test import Client

from agreement.admin.display import NO_FIGURE
from agreement.models import (
    Conflict,
    ConflictStatus,
    LabelOfRecord,
    LabelSource,
    RaterQuality,
    Resolution,
    ResolutionAction,
)
from agreement.services.conflicts import conflict_resolve
from agreement.services.recompute import agreement_recompute_request, agreement_recompute_run
from labeling.lead_assignment import items_assign
from labeling.services import annotation_submit
from projects.models import AgreementRule, Item, ItemStatus, LabelKind, Membership, Project
from projects.services.archive import project_archive
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db

QUEUE = "/admin/agreement/conflict/"

SPAM_LABELS = [
    {"value": "spam", "display_name": "Spam", "color": "#d64545", "hotkey": "1"},
    {"value": "ham", "display_name": "Ham", "color": "#2e9e5b", "hotkey": "2"},
]


def label_items(project: Project, lead: Any, votes: dict[Item, Iterable[tuple[Any, Any]]]) -> None:
    """Each (rater, value) of each item: the lead assigns the item and the rater submits."""
    for item, by_rater in votes.items():
        for rater, value in by_rater:
            items_assign(project=project, rater=rater, assigned_by=lead, item_ids=[item.pk])
            annotation_submit(
                project=project, item_id=item.pk, rater=rater, value=value,
                client_id=uuid.uuid4(), time_spent_ms=4200,
            )  # fmt: skip


@pytest.fixture
def dave(db):
    return UserFactory(username="dave", first_name="Dave", last_name="Okafor")


@pytest.fixture
def erin(db):
    return UserFactory(username="erin")


@pytest.fixture
def world(alice, bob, carol, dave, erin, mallory) -> dict[str, Any]:
    for user in (alice, mallory):
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    sentiment = make_project(
        lead=alice, raters=[bob, carol, dave], raters_per_item=3,
        agreement_rule=AgreementRule.UNANIMOUS, instructions="Read the **whole** review.",
    )  # fmt: skip
    split, close, also_close, agreed = make_items(sentiment, 4, prefix="review")
    label_items(sentiment, alice, {
        split: [(bob, "positive"), (carol, "negative"), (dave, "neutral")],  # 0%
        close: [(bob, "positive"), (carol, "positive"), (dave, "negative")],  # 33%
        also_close: [(bob, "negative"), (carol, "negative"), (dave, "neutral")],  # 33%
        agreed: [(bob, "positive"), (carol, "positive"), (dave, "positive")],
    })  # fmt: skip
    spam = make_project(
        lead=mallory, raters=[erin, bob], raters_per_item=2, labels=SPAM_LABELS, name="Spam",
        agreement_rule=AgreementRule.UNANIMOUS,
    )  # fmt: skip
    [mail] = make_items(spam, 1, prefix="mail")
    label_items(spam, mallory, {mail: [(erin, "spam"), (bob, "ham")]})
    conflicts = {c.item.key: c for c in Conflict.objects.select_related("item")}
    return {"sentiment": sentiment, "spam": spam, "conflicts": conflicts}


def admin_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_url(conflict: Conflict, action: str = "change") -> str:
    return f"{QUEUE}{conflict.pk}/{action}/"


def shown(response: Any) -> list[str]:
    return [conflict.item.key for conflict in response.context["cl"].result_list]


def messages_of(response: Any) -> list[str]:
    return [re.sub(r"<[^>]+>", "", str(m)) for m in response.context["messages"]]


# --- the queue ----------------------------------------------------------------------------------


def test_alice_sees_her_open_conflicts_lowest_agreement_first(world, alice):
    response = admin_for(alice).get(QUEUE)

    assert response.status_code == 200
    assert shown(response) == ["review-0", "review-1", "review-2"]
    content = response.content.decode()
    assert "Spam" not in content and "mail-0" not in content  # mallory's, not even a filter
    assert "0%" in content and "33%" in content
    assert "review number 0: the service was fine." in content  # a snippet of the text


def test_the_queue_shows_open_conflicts_unless_another_status_is_asked_for(world, alice):
    conflict_resolve(conflict=world["conflicts"]["review-0"], lead=alice, value="negative")
    client = admin_for(alice)

    assert shown(client.get(QUEUE)) == ["review-1", "review-2"]
    assert shown(client.get(QUEUE, {"status": "resolved"})) == ["review-0"]
    assert shown(client.get(QUEUE, {"status": "all"})) == ["review-0", "review-1", "review-2"]


def test_the_filters_offer_only_alices_projects_and_label_pairs(world, alice):
    make_project(lead=alice, name="Drafts")  # a second project: the filter shows from two on
    response = admin_for(alice).get(QUEUE)
    filters = {spec.title: spec for spec in response.context["cl"].filter_specs}

    assert [name for _, name in filters["project"].lookup_choices] == ["Drafts", "Sentiment"]
    assert [pair for pair, _ in filters["label pair"].lookup_choices] == [
        "negative | neutral", "negative | positive",
    ]  # fmt: skip
    client = admin_for(alice)
    assert shown(client.get(QUEUE, {"label_pair": "negative | neutral"})) == [
        "review-0", "review-2",
    ]  # fmt: skip
    assert shown(client.get(QUEUE, {"q": "review-1"})) == ["review-1"]
    mine = client.get(QUEUE, {"project__id__exact": world["sentiment"].pk})
    assert shown(mine) == ["review-0", "review-1", "review-2"]
    assert shown(client.get(QUEUE, {"project__id__exact": world["spam"].pk})) == []


def test_mallory_sees_her_conflicts_and_root_sees_all(world, mallory):
    assert shown(admin_for(mallory).get(QUEUE)) == ["mail-0"]
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert sorted(shown(admin_for(root).get(QUEUE))) == [
        "mail-0", "review-0", "review-1", "review-2",
    ]  # fmt: skip


def test_nobody_adds_or_deletes_a_conflict_here(world, alice):
    conflict = world["conflicts"]["review-0"]
    client = admin_for(alice)
    assert client.get(f"{QUEUE}add/").status_code == 403
    assert client.post(page_url(conflict, "delete"), {"post": "yes"}).status_code == 403
    assert client.post(page_url(conflict), {"status": "resolved"}).status_code == 405
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN


# --- the resolution page ------------------------------------------------------------------------


def test_the_page_shows_the_item_the_raters_the_agreement_and_the_history(world, alice, carol):
    conflict = world["conflicts"]["review-1"]
    sentiment = world["sentiment"]
    Membership.objects.filter(project=sentiment, user=carol).update(
        is_external=True, external_name="Annotator 7"
    )  # as an annotation import names a rater without an account (no such import on main yet)

    response = admin_for(alice).get(page_url(conflict))

    assert response.status_code == 200
    page = response.context["page"]
    assert [(r.name, r.is_external) for r in page.raters] == [
        ("bob", False), ("Annotator 7", True), ("Dave Okafor", False),
    ]  # fmt: skip
    assert [r.scorecard for r in page.raters] == [None, None, None]  # no recompute yet
    assert [(c.value, c.hotkey, c.votes) for c in page.choices] == [
        ("positive", "1", 2), ("negative", "2", 1), ("neutral", "3", 0),
    ]  # fmt: skip
    assert page.observed == "33%" and page.confidence == "67%"
    content = response.content.decode()
    assert "review number 1: the service was fine." in content
    assert content.count("not computed yet") == 3 and "external" in content
    assert "<strong>whole</strong>" in content  # the instructions, rendered
    assert "Unanimous" in content and "not met" in content
    assert "Became a conflict after a new label" in content
    # Every action with its key, posting to its own URL.
    for action, key in (("resolve", "1"), ("more-raters", "m"), ("ambiguous", "a")):
        assert f"/{conflict.pk}/{action}/" in content
        assert f'data-key="{key}"' in content


def test_the_raters_scorecards_come_from_the_last_recompute(world, alice, carol):
    sentiment = world["sentiment"]
    job = agreement_recompute_request(project=sentiment, requested_by=alice, enqueue=False)
    agreement_recompute_run(job_id=job.pk)
    conflict = Conflict.objects.get(pk=world["conflicts"]["review-1"].pk)

    page = admin_for(alice).get(page_url(conflict)).context["page"]

    carol_line = page.raters[1]
    quality = RaterQuality.objects.get(project=sentiment, rater=carol)
    assert carol_line.scorecard is not None
    assert carol_line.scorecard.agreement == f"{quality.loo_agreement:.0%}"
    assert carol_line.scorecard.agreement_items == quality.loo_items > 0
    assert carol_line.scorecard.gold == NO_FIGURE  # no gold items in this project
    assert all(line.scorecard is not None for line in page.raters)


def test_the_page_takes_a_fixed_number_of_queries(world, alice, django_assert_max_num_queries):
    client = admin_for(alice)
    client.get(page_url(world["conflicts"]["review-0"]))  # sessions and caches warmed
    # The session and user (2), alice's projects, the conflict, the labels, the agreement, the
    # label of record, the raters (3), their memberships and scorecards, the history (2), the
    # queue's count and next conflict, and the admin's menu (2).
    with django_assert_max_num_queries(18):
        response = client.get(page_url(world["conflicts"]["review-0"]))
    assert response.status_code == 200


def test_an_action_key_a_label_has_taken_moves_to_shift(alice, bob, carol):
    labels = [
        {"value": "animal", "display_name": "Animal", "color": "#2e9e5b", "hotkey": "a"},
        {"value": "mineral", "display_name": "Mineral", "color": "#4f6bed", "hotkey": "m"},
    ]
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2, labels=labels)
    [item] = make_items(project, 1)
    label_items(project, alice, {item: [(bob, "animal"), (carol, "mineral")]})

    page = admin_for(alice).get(page_url(Conflict.objects.get(item=item))).context["page"]

    assert (page.keys.ambiguous, page.keys.more, page.keys.note) == ("A", "M", "n")
    assert [c.hotkey for c in page.choices] == ["a", "m"]


# --- decisions ------------------------------------------------------------------------------------


def test_alice_resolves_and_lands_on_the_next_conflict(world, alice):
    first, second = world["conflicts"]["review-0"], world["conflicts"]["review-1"]

    response = admin_for(alice).post(
        page_url(first, "resolve"), {"value": "negative", "note": "sarcasm"}, follow=True
    )

    assert response.redirect_chain == [(page_url(second), 302)]
    assert response.context["page"].conflict == second
    [done] = messages_of(response)
    assert done.startswith("Resolved review-0 as “Negative”.") and "Undo" in done
    assert f'action="{page_url(first, "reopen")}"' in response.content.decode()
    first.refresh_from_db()
    assert first.status == ConflictStatus.RESOLVED
    record = LabelOfRecord.objects.get(item=first.item)
    assert (record.value, record.source) == ("negative", LabelSource.RESOLUTION)
    assert Item.objects.get(pk=first.item_id).status == ItemStatus.RESOLVED
    resolution = Resolution.objects.get(conflict=first)
    assert (resolution.action, resolution.lead, resolution.value_after, resolution.note) == (
        ResolutionAction.RESOLVE, alice, "negative", "sarcasm",
    )  # fmt: skip


def test_ambiguous_and_one_more_rater_move_on_too(world, alice):
    first, second, third = (world["conflicts"][f"review-{n}"] for n in range(3))
    client = admin_for(alice)

    response = client.post(page_url(first, "ambiguous"), {"note": "both readings"}, follow=True)
    assert response.redirect_chain == [(page_url(second), 302)]
    assert messages_of(response)[0].startswith("Marked review-0 ambiguous")
    response = client.post(page_url(second, "more-raters"), follow=True)
    assert response.redirect_chain == [(page_url(third), 302)]
    assert messages_of(response)[0].startswith("Sent review-1 to one more rater")

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ConflictStatus.AMBIGUOUS, ConflictStatus.WAITING)
    assert not LabelOfRecord.objects.filter(item=first.item).exists()
    assert Item.objects.get(pk=second.item_id).extra_slots == 1
    assert list(Resolution.objects.values_list("action", "note")) == [
        (ResolutionAction.AMBIGUOUS, "both readings"), (ResolutionAction.MORE_RATERS, ""),
    ]  # fmt: skip


def test_undo_reopens_the_conflict_and_shows_it_again(world, alice):
    first = world["conflicts"]["review-0"]
    client = admin_for(alice)
    client.post(page_url(first, "resolve"), {"value": "negative"}, follow=True)

    response = client.post(page_url(first, "reopen"), follow=True)

    assert response.redirect_chain == [(page_url(first), 302)]
    assert messages_of(response) == ["Reopened review-0: decide it again."]
    first.refresh_from_db()
    assert (first.status, first.times_opened) == (ConflictStatus.OPEN, 2)
    assert not LabelOfRecord.objects.filter(item=first.item).exists()
    assert response.context["page"].can_resolve


def test_the_last_decision_goes_back_to_the_queue_with_a_message(world, alice):
    client = admin_for(alice)
    for key in ("review-0", "review-1"):
        client.post(page_url(world["conflicts"][key], "ambiguous"))

    response = client.post(
        page_url(world["conflicts"]["review-2"], "resolve"), {"value": "neutral"}, follow=True
    )

    assert response.redirect_chain == [(QUEUE, 302)]
    assert messages_of(response)[-1] == "No open conflicts left in this queue."
    assert shown(response) == []


def test_the_next_conflict_stays_in_the_queues_project_and_label_pair(world, alice, bob, carol):
    other = make_project(lead=alice, raters=[bob, carol], raters_per_item=2, name="Other",
                         agreement_rule=AgreementRule.UNANIMOUS)  # fmt: skip
    [item] = make_items(other, 1, prefix="other")
    label_items(other, alice, {item: [(bob, "positive"), (carol, "negative")]})  # 0%, first
    first = world["conflicts"]["review-0"]
    filters = f"project__id__exact={world['sentiment'].pk}&label_pair=negative+%7C+neutral"
    query = {"_changelist_filters": filters}
    client = admin_for(alice)

    response = client.get(f"{QUEUE}next/", query)
    assert response.status_code == 302
    assert response["Location"].startswith(page_url(first) + "?_changelist_filters=")
    response = client.post(
        page_url(first, "resolve") + "?" + response["Location"].split("?")[1],
        {"value": "neutral"},
    )  # fmt: skip
    assert response["Location"].startswith(page_url(world["conflicts"]["review-2"]) + "?")
    assert "_changelist_filters=project__id__exact" in response["Location"]


def test_start_resolving_opens_the_first_conflict_of_the_filtered_queue(world, alice):
    client = admin_for(alice)
    queue = client.get(QUEUE, {"label_pair": "negative | positive"})
    [start] = re.findall(r'href="([^"]+)" class="cq-start"', queue.content.decode())

    response = client.get(start.replace("&amp;", "&"), follow=True)

    assert response.context["page"].conflict == world["conflicts"]["review-1"]
    assert response.context["open_left"] == 1  # the queue it came from: one pair


def test_skip_goes_to_the_next_in_order_and_wraps_around(world, alice):
    client = admin_for(alice)
    skips = []
    for key in ("review-0", "review-1", "review-2"):
        skips.append(client.get(page_url(world["conflicts"][key])).context["skip_url"])
    assert skips == [
        page_url(world["conflicts"]["review-1"]), page_url(world["conflicts"]["review-2"]),
        page_url(world["conflicts"]["review-0"]),
    ]  # fmt: skip


def test_a_multi_label_and_a_rating_resolution_take_their_values(alice, bob, carol):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    unanimous = {"raters_per_item": 2, "agreement_rule": AgreementRule.UNANIMOUS}
    topics = make_project(lead=alice, raters=[bob, carol], name="Topics",
                          label_kind=LabelKind.MULTI, **unanimous)  # fmt: skip
    stars = make_project(lead=alice, raters=[bob, carol], name="Stars",
                         label_kind=LabelKind.RATING, **unanimous)  # fmt: skip
    [topic] = make_items(topics, 1, prefix="topic")
    [star] = make_items(stars, 1, prefix="star")
    label_items(topics, alice, {topic: [(bob, ["positive", "neutral"]), (carol, ["positive"])]})
    label_items(stars, alice, {star: [(bob, 2), (carol, 5)]})
    client = admin_for(alice)

    topic_conflict = Conflict.objects.get(item=topic)
    page = client.get(page_url(topic_conflict)).context["page"]
    assert [(c.value, c.checked) for c in page.choices] == [
        ("positive", True),
        ("negative", False),
        ("neutral", False),
    ]  # fmt: skip  (what both chose is ticked; the split label is the lead's to decide)
    client.post(page_url(topic_conflict, "resolve"), {"value": ["neutral", "positive"]})
    star_conflict = Conflict.objects.get(item=star)
    page = client.get(page_url(star_conflict)).context["page"]
    assert [(c.value, c.hotkey, c.votes) for c in page.choices] == [
        ("1", "1", 0), ("2", "2", 1), ("3", "3", 0), ("4", "4", 0), ("5", "5", 1),
    ]  # fmt: skip
    client.post(page_url(star_conflict, "resolve"), {"value": "4"})

    assert LabelOfRecord.objects.get(item=topic).value == ["neutral", "positive"]
    assert LabelOfRecord.objects.get(item=star).value == 4


def test_a_value_outside_the_schema_is_a_message_and_keeps_the_note(world, alice):
    conflict = world["conflicts"]["review-0"]

    response = admin_for(alice).post(
        page_url(conflict, "resolve"), {"value": "joyful", "note": "my careful reasoning"}
    )

    assert response.status_code == 400
    assert any("'joyful' is not a label" in m for m in messages_of(response))
    assert "my careful reasoning</textarea>" in response.content.decode()
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN and not Resolution.objects.exists()


def test_a_stale_decision_is_a_message_not_an_error(world, alice, bob):
    conflict = world["conflicts"]["review-0"]
    page = admin_for(alice).get(page_url(conflict))  # alice reads it...
    assert page.context["page"].can_resolve
    conflict_resolve(conflict=conflict, lead=alice, value="positive")  # ...another tab decides

    response = admin_for(alice).post(
        page_url(conflict, "ambiguous"), {"note": "no, both readings hold"}
    )

    assert response.status_code == 409
    assert any("cannot be marked ambiguous now" in m for m in messages_of(response))
    assert "no, both readings hold</textarea>" in response.content.decode()
    assert response.context["page"].can_reopen  # the page shows it as it is now
    assert LabelOfRecord.objects.get(item=conflict.item).value == "positive"
    assert Resolution.objects.count() == 1


def test_an_archived_project_shows_its_conflicts_read_only(world, alice):
    conflict = world["conflicts"]["review-0"]
    project_archive(project=world["sentiment"])
    client = admin_for(alice)

    page = client.get(page_url(conflict))
    assert page.status_code == 200 and not page.context["page"].can_resolve
    assert "archived and read-only" in page.content.decode()
    response = client.post(page_url(conflict, "resolve"), {"value": "negative"})
    assert response.status_code == 409
    assert not Resolution.objects.exists()


# --- the read-only lists --------------------------------------------------------------------------


@pytest.mark.parametrize("changelist", ["labelofrecord", "resolution"])
def test_the_records_and_decisions_of_a_leads_projects_only(world, alice, mallory, changelist):
    conflict_resolve(conflict=world["conflicts"]["review-0"], lead=alice, value="neutral")
    conflict_resolve(conflict=world["conflicts"]["mail-0"], lead=mallory, value="spam")

    response = admin_for(alice).get(f"/admin/agreement/{changelist}/")

    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    projects = {getattr(row, "project_id", None) or row.conflict.project_id for row in rows}
    assert rows and projects == {world["sentiment"].pk}
    assert "mail-0" not in response.content.decode()


# --- who may do what ------------------------------------------------------------------------------

LOGIN = "login"  # the admin's sign-in page
ACTIONS = ["resolve", "more-raters", "ambiguous", "reopen"]

# fmt: off
#  what                   alice  mallory  bob (staff rater)  carol (rater)  anonymous  root
MATRIX = [
    ("GET queue",         200,   200,     403,               LOGIN,         LOGIN,     200),
    ("GET next",          302,   302,     403,               LOGIN,         LOGIN,     302),
    ("GET page",          200,   404,     404,               LOGIN,         LOGIN,     200),
    *[(f"POST {action}",  "done", 404,    404,               LOGIN,         LOGIN,     "done")
      for action in ACTIONS],
]
# fmt: on
ACTORS = ["alice", "mallory", "bob", "carol", "anonymous", "root"]
CASES = [
    pytest.param(what, actor, expected, id=f"{what} as {actor}")
    for what, *expectations in MATRIX
    for actor, expected in zip(ACTORS, expectations, strict=True)
]


@pytest.mark.parametrize(("what", "actor", "expected"), CASES)
def test_only_a_lead_of_the_project_or_a_superuser_sees_and_decides(
    world, alice, mallory, bob, carol, what, actor, expected
):
    bob.is_staff = True  # a staff rater: in the admin, but leading nothing
    bob.save(update_fields=["is_staff"])
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    users = {"alice": alice, "mallory": mallory, "bob": bob, "carol": carol, "root": root}
    conflict = world["conflicts"]["review-0"]
    if what == "POST reopen":
        conflict_resolve(conflict=conflict, lead=alice, value="neutral")
    decisions = Resolution.objects.count()
    client = Client()
    if actor != "anonymous":
        client.force_login(users[actor])

    method, name = what.split(" ")
    url = {"queue": QUEUE, "next": f"{QUEUE}next/", "page": page_url(conflict)}.get(
        name, page_url(conflict, name)
    )
    response = client.get(url) if method == "GET" else client.post(url, {"value": "negative"})

    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    elif expected == "done":
        assert response.status_code == 302
        assert Resolution.objects.count() == decisions + 1
    else:
        assert response.status_code == expected
    if expected != "done":
        assert Resolution.objects.count() == decisions  # nothing decided
