"""A lead's page of one item: every rater's label with each value it held, when and after how
long, skips and holds, and the gold answer with each label's match against it as it is now.

alice leads the project (k=2), bob and carol rate in it, dave joins to hold an item.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labeling.assignment import item_claim
from labeling.lead_assignment import items_assign
from labeling.members import membership_set
from labeling.services import annotation_submit, item_skip
from projects.models import Item, LabelKind, Role
from projects.services.items import item_update
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def label(project, rater, item, value, *, ms: int) -> None:
    annotation_submit(project=project, item_id=item.pk, rater=rater, value=value,
                      client_id=uuid.uuid4(), time_spent_ms=ms)  # fmt: skip


def page(user, item) -> str:
    response = client_for(user).get(reverse("item-detail", args=[item.project_id, item.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_alice_sees_every_label_its_history_time_and_the_skips(project, alice, bob, carol):
    item = make_items(project, 1)[0]
    item_claim(project=project, rater=bob)
    label(project, bob, item, "positive", ms=4200)
    label(project, bob, item, "negative", ms=1300)  # bob changes his mind
    item_claim(project=project, rater=carol)
    item_skip(item=item, rater=carol, reason="Sarcasm, cannot tell")

    html = page(alice, item)
    assert item.text in html
    assert "bob" in html and "carol" in html
    history = html.split('<ol class="revisions">')[1].split("</ol>")[0]
    assert history.index("r1") < history.index("Positive") < history.index("r2")
    assert history.index("r2") < history.index("Negative")
    assert "4.2 s" in html and "1.3 s" in html and "5.5 s" in html, "each revision and in all"
    assert "skipped" in html and "Sarcasm, cannot tell" in html
    assert "1 of 2 labels" in html


def test_gold_matches_are_judged_against_the_gold_answer_as_it_is_now(project, alice, bob, carol):
    """bob says positive, carol negative on a gold item whose answer was negative; alice then
    corrects the answer to positive: the page follows the correction."""
    item = make_items(project, 1)[0]
    Item.objects.filter(pk=item.pk).update(is_gold=True, gold_value="negative")
    for rater, value in ((bob, "positive"), (carol, "negative")):
        items_assign(project=project, rater=rater, assigned_by=alice, item_ids=[item.pk])
        label(project, rater, item, value, ms=1000)

    before = page(alice, Item.objects.get(pk=item.pk))
    assert before.count('badge-ok">matches') == 1 and before.count('badge-bad">differs') == 1
    assert "1 of 2 matches" in before
    item_update(item=Item.objects.get(pk=item.pk), gold_value="positive")
    after = page(alice, Item.objects.get(pk=item.pk))
    rows = after.split("<tbody>")[1]
    assert rows.index("bob") < rows.index("matches") < rows.index("carol") < rows.index("differs")


def test_holds_and_a_leads_assignment_are_shown(project, alice, bob, carol):
    dave = UserFactory(username="dave")
    membership_set(project=project, user=dave, role=Role.RATER)
    item = make_items(project, 1)[0]
    item_claim(project=project, rater=bob)
    items_assign(project=project, rater=carol, assigned_by=alice, item_ids=[item.pk])
    html = page(alice, item)
    assert "labeling now" in html and "lease until" in html
    assert "assigned by alice" in html
    assert "0 of 2 labels" in html


def test_a_rating_and_a_multi_label_read_as_values(alice, bob):
    scale = make_project(lead=alice, raters=[bob], name="Quality", label_kind=LabelKind.RATING,
                         rating_min=1, rating_max=5)  # fmt: skip
    rated = make_items(scale, 1)[0]
    item_claim(project=scale, rater=bob)
    label(scale, bob, rated, 4, ms=800)
    assert '<span class="chip">4</span>' in page(alice, rated)

    tags = make_project(lead=alice, raters=[bob], name="Tags", label_kind=LabelKind.MULTI)
    tagged = make_items(tags, 1)[0]
    item_claim(project=tags, rater=bob)
    label(tags, bob, tagged, [], ms=800)
    assert "none of these" in page(alice, tagged)


def test_the_page_costs_the_same_queries_however_many_raters(alice, bob, carol):
    """Each rater's label, revisions, skip and hold come in four queries in all."""
    raters = [bob, carol, *(UserFactory() for _ in range(4))]
    project = make_project(lead=alice, raters=raters, raters_per_item=6)
    few, many = make_items(project, 2)
    for item, who in ((few, raters[:1]), (many, raters)):
        for rater in who:
            items_assign(project=project, rater=rater, assigned_by=alice, item_ids=[item.pk])
            label(project, rater, item, "positive", ms=500)
            label(project, rater, item, "negative", ms=500)
    client = client_for(alice)
    counts = []
    for item in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("item-detail", args=[project.pk, item.pk])).status_code == 200
        counts.append(len(queries))
    # The session and its user, the project and the caller's role, the item, the labels; the
    # assignments, the annotations and their revisions; the previous and the next item.
    assert counts == [11, 11]


def test_the_items_list_links_each_key_to_its_page(project, alice):
    item = make_items(project, 1)[0]
    response = client_for(alice).get(reverse("project-items", args=[project.pk]))
    assert reverse("item-detail", args=[project.pk, item.pk]) in response.content.decode()


def test_an_item_of_another_project_is_not_found(project, alice, mallory):
    elsewhere = make_items(make_project(lead=alice, name="Other"), 1)[0]
    response = client_for(alice).get(reverse("item-detail", args=[project.pk, elsewhere.pk]))
    assert response.status_code == 404
