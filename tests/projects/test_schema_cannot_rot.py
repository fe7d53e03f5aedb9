"""A project's label schema cannot change under the labels stored in it.

alice leads the project, bob rates in it. Once bob has labeled, the label kind and the rating
scale are fixed, and a label he used can be archived but not deleted, replaced away or renamed:
through the API (409), the settings form and the admin alike.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from labeling.assignment import item_claim
from labeling.models import Annotation, AnnotationLabel
from labeling.services import annotation_submit
from projects.models import Item, Label, LabelKind, Project
from projects.services.items import item_update
from tests.factories import make_items, make_project

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def label_one(project: Project, rater, value) -> Annotation:
    hold = item_claim(project=project, rater=rater, hold=1)[0]
    return annotation_submit(
        project=project, item_id=hold.item.pk, rater=rater, value=value, client_id=uuid.uuid4()
    ).annotation


def assert_conflict(response, *words: str) -> None:
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "conflict"
    for word in words:
        assert word in error["message"], error["message"]


@pytest.fixture
def labeled(project, bob):
    """The sentiment project (positive, negative, neutral) with one label of bob's."""
    make_items(project, 3)
    label_one(project, bob, "positive")
    return project


# --- kind, bounds, content type -----------------------------------------------------------------


def test_the_label_kind_is_fixed_once_there_are_annotations(labeled, alice):
    url = f"/api/v1/projects/{labeled.pk}/"
    assert_conflict(api(alice).patch(url, {"label_kind": "multi"}, format="json"), "label kind")
    assert Project.objects.get(pk=labeled.pk).label_kind == LabelKind.SINGLE
    # Settings that do not touch the schema still change.
    response = api(alice).patch(url, {"raters_per_item": 2}, format="json")
    assert response.status_code == 200, response.content


def test_the_kind_is_free_before_any_label_and_fixed_by_a_gold_answer(project, alice):
    url = f"/api/v1/projects/{project.pk}/"
    item = make_items(project, 1)[0]
    assert api(alice).patch(url, {"label_kind": "multi"}, format="json").status_code == 200
    assert api(alice).patch(url, {"label_kind": "single"}, format="json").status_code == 200
    item_update(item=item, gold_value="positive", is_gold=True)
    assert_conflict(api(alice).patch(url, {"label_kind": "multi"}, format="json"), "gold")


def test_rating_bounds_are_fixed_once_rated(alice, bob):
    project = make_project(
        lead=alice, raters=[bob], label_kind=LabelKind.RATING, rating_min=1, rating_max=5
    )
    make_items(project, 2)
    label_one(project, bob, 4)
    url = f"/api/v1/projects/{project.pk}/"
    assert_conflict(api(alice).patch(url, {"rating_max": 7}, format="json"), "rating max", "1..5")
    assert Project.objects.get(pk=project.pk).rating_max == 5


def test_the_content_type_is_fixed_once_there_are_items(project, alice):
    make_items(project, 1)
    response = api(alice).patch(
        f"/api/v1/projects/{project.pk}/", {"content_type": "image"}, format="json"
    )
    assert_conflict(response, "content type")


def test_the_settings_form_shows_the_schema_as_fixed(labeled, alice):
    client = Client()
    client.force_login(alice)
    page = client.get(f"/projects/{labeled.pk}/settings/").content.decode()
    assert "Fixed once the project has annotations or gold answers" in page


def test_the_admin_refuses_a_change_of_kind(labeled, alice):
    alice.is_staff = True
    alice.save()
    client = Client()
    client.force_login(alice)
    url = f"/admin/projects/project/{labeled.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "rater_fields"}
    data.update(label_kind="multi", rater_fields="[]")
    for prefix in ("labels", "memberships"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, with the error
    assert "cannot change" in response.content.decode()
    assert Project.objects.get(pk=labeled.pk).label_kind == LabelKind.SINGLE


# --- labels in use --------------------------------------------------------------------------


def test_a_used_label_cannot_be_deleted_but_can_be_archived(labeled, alice, bob):
    positive = labeled.labels.get(value="positive")
    url = f"/api/v1/projects/{labeled.pk}/labels/{positive.pk}/"
    assert_conflict(api(alice).delete(url), "'positive'", "1 annotations", "Archive")
    response = api(alice).patch(url, {"archived": True, "display_name": "Good"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["archived"] is True
    # An unused label can still go.
    neutral = labeled.labels.get(value="neutral")
    assert (
        api(alice).delete(f"/api/v1/projects/{labeled.pk}/labels/{neutral.pk}/").status_code == 204
    )
    # Raters no longer see it, and cannot choose it for a new label.
    client = Client()
    client.force_login(bob)
    page = client.get(f"/label/{labeled.pk}/").content.decode()
    assert 'data-value="positive"' not in page and 'data-value="negative"' in page
    hold = item_claim(project=labeled, rater=bob, hold=1)[0]
    response = api(bob).post(
        f"/api/v1/projects/{labeled.pk}/labeling/items/{hold.item.pk}/submit/",
        {"value": "positive", "client_id": str(uuid.uuid4())},
        format="json",
    )
    assert response.status_code == 400 and "not a label" in response.json()["error"]["message"]
    # What used it keeps it.
    assert Annotation.objects.get(rater=bob, label=positive).value == "positive"


def test_the_schema_put_cannot_drop_or_rename_a_used_label(labeled, alice):
    url = f"/api/v1/projects/{labeled.pk}/labels/"
    renamed = [{"value": "good"}, {"value": "negative"}, {"value": "neutral"}]
    assert_conflict(api(alice).put(url, renamed, format="json"), "'positive'", "renamed")
    assert set(labeled.labels.values_list("value", flat=True)) == {
        "positive",
        "negative",
        "neutral",
    }
    kept = [{"value": "positive", "archived": True}, {"value": "negative"}]
    response = api(alice).put(url, kept, format="json")
    assert response.status_code == 200, response.content
    assert [(row["value"], row["archived"]) for row in response.json()] == [
        ("positive", True),
        ("negative", False),
    ]


def test_a_gold_answer_keeps_its_label(project, alice):
    item = make_items(project, 1)[0]
    item_update(item=item, gold_value="neutral", is_gold=True)
    neutral = project.labels.get(value="neutral")
    response = api(alice).delete(f"/api/v1/projects/{project.pk}/labels/{neutral.pk}/")
    assert_conflict(response, "1 gold answer")


def test_the_settings_form_refuses_to_drop_a_used_label(labeled, alice):
    client = Client()
    client.force_login(alice)
    labels = list(labeled.labels.order_by("position"))
    data = {
        "name": labeled.name, "content_type": "text", "label_kind": "single",
        "raters_per_item": 3, "agreement_rule": "majority", "agreement_threshold": 0.66,
        "lease_minutes": 10, "gold_rate": 0, "weak_label_threshold": 0.9,
        "labels-TOTAL_FORMS": len(labels), "labels-INITIAL_FORMS": len(labels),
    }  # fmt: skip
    for index, label in enumerate(labels):
        data |= {
            f"labels-{index}-value": label.value, f"labels-{index}-display_name": label.value,
            f"labels-{index}-color": label.color, f"labels-{index}-hotkey": label.hotkey,
        }  # fmt: skip
    data["labels-0-DELETE"] = "on"  # positive, which bob used
    response = client.post(f"/projects/{labeled.pk}/settings/", data)
    assert response.status_code == 200
    assert "cannot be removed or renamed" in response.content.decode()
    assert labeled.labels.filter(value="positive").exists()


def test_the_admin_does_not_rename_a_used_label(labeled, alice):
    alice.is_staff = True
    alice.save()
    client = Client()
    client.force_login(alice)
    url = f"/admin/projects/project/{labeled.pk}/change/"
    context = client.get(url).context
    data = {}
    for formset in context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data |= {management.add_prefix(k): v for k, v in management.initial.items()}
        for form in formset.formset.forms:
            for name, field in form.fields.items():
                value = form.initial.get(name, field.initial)
                if value is not None and value is not False:
                    data[form.add_prefix(name)] = value.pk if hasattr(value, "pk") else value
    form = context["adminform"].form
    data |= {k: v for k, v in form.initial.items() if v is not None and k != "rater_fields"}
    data["rater_fields"] = "[]"
    positive_row = next(
        i
        for i, f in enumerate(context["inline_admin_formsets"][0].formset.forms)
        if f.initial.get("value") == "positive"
    )
    data[f"labels-{positive_row}-value"] = "good"
    response = client.post(url, data)
    assert response.status_code == 200, "the form again, not a success redirect"
    assert "cannot be removed or renamed" in response.content.decode()
    assert labeled.labels.filter(value="positive").exists()


# --- stored as codes ------------------------------------------------------------------------


def test_values_are_stored_as_codes_of_the_schema(alice, bob):
    single = make_project(lead=alice, raters=[bob])
    make_items(single, 1)
    annotation = label_one(single, bob, "negative")
    assert Annotation.objects.filter(pk=annotation.pk).values_list("label_id", "rating").get() == (
        single.labels.get(value="negative").pk,
        None,
    )

    multi = make_project(
        lead=alice, raters=[bob], label_kind=LabelKind.MULTI,
        labels=[{"value": v} for v in ("cat", "dog", "bird")],
    )  # fmt: skip
    make_items(multi, 2)
    chose = label_one(multi, bob, ["dog", "cat"])
    assert chose.value == ["cat", "dog"]
    codes = set(AnnotationLabel.objects.filter(annotation=chose).values_list("label_id", flat=True))
    assert codes == set(multi.labels.filter(value__in=["cat", "dog"]).values_list("pk", flat=True))
    none = label_one(multi, bob, [])
    assert Annotation.objects.get(pk=none.pk).value == []

    rating = make_project(
        lead=alice, raters=[bob], label_kind=LabelKind.RATING, rating_min=0, rating_max=10
    )
    make_items(rating, 1)
    rated = label_one(rating, bob, 7)
    assert Annotation.objects.filter(pk=rated.pk).values_list("label_id", "rating").get() == (
        None,
        7,
    )
    # A change replaces the codes; the revision keeps what was said before.
    item = Annotation.objects.get(pk=chose.pk).item
    changed = annotation_submit(
        project=multi, item_id=item.pk, rater=bob, value=["bird"], client_id=uuid.uuid4()
    ).annotation
    assert changed.revision == 2
    fresh = Annotation.objects.prefetch_related("chosen__label").get(pk=chose.pk)
    assert fresh.value == ["bird"]
    assert list(fresh.revisions.order_by("revision").values_list("value", flat=True)) == [
        ["cat", "dog"],
        ["bird"],
    ]


# --- the change counter ---------------------------------------------------------------------


def test_every_change_of_what_an_item_rests_on_moves_its_counter(project, bob, carol):
    item = make_items(project, 1)[0]

    def counter() -> int:
        return Item.objects.get(pk=item.pk).change_count

    assert counter() == 0
    label_one(project, bob, "positive")
    assert counter() == 1
    label_one(project, carol, "negative")
    assert counter() == 2 and Item.objects.get(pk=item.pk).status == "conflict"
    # bob changes his mind after the item is fully labeled: still a change.
    annotation_submit(
        project=project, item_id=item.pk, rater=bob, value="negative", client_id=uuid.uuid4()
    )
    assert counter() == 3
    item_update(item=Item.objects.get(pk=item.pk), gold_value="negative", is_gold=True)
    assert counter() == 4
    item_update(item=Item.objects.get(pk=item.pk), priority=5)
    assert counter() == 4, "the priority is not what labels rest on"


def test_labels_of_a_deleted_project_go_with_it(labeled):
    """The labels are restricted by annotations, which the project's deletion takes too."""
    labeled.delete()
    assert not Label.objects.filter(project_id=labeled.pk).exists()
