"""The labeling API as a rater's page uses it: claim, submit, retry, skip, go back."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from labeling.assignment import item_claim
from labeling.models import Annotation, AnnotationRevision
from labeling.services import annotation_submit
from projects.models import Item, ItemStatus, Project
from projects.services.images import image_store
from projects.services.projects import project_update
from tests.factories import make_items

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def url(project, tail: str) -> str:
    return f"/api/v1/projects/{project.pk}/labeling/{tail}"


def claim(client, project, hold: int = 1) -> dict:
    response = client.post(url(project, "claim/"), {"hold": hold}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def submit(client, project, item_id: int, value, client_id=None):
    return client.post(
        url(project, f"items/{item_id}/submit/"),
        {"value": value, "client_id": str(client_id or uuid.uuid4()), "time_spent_ms": 1500},
        format="json",
    )


def test_bob_claims_labels_and_a_retry_creates_nothing(project, bob):
    make_items(project, 3)
    api = client_for(bob)
    body = claim(api, project)
    item_id = body["items"][0]["item"]["id"]
    assert body["items"][0]["assignment"]["status"] == "leased"
    assert claim(api, project)["items"][0]["item"]["id"] == item_id, "a reload keeps the lease"

    client_id = uuid.uuid4()
    first = submit(api, project, item_id, "positive", client_id)
    again = submit(api, project, item_id, "positive", client_id)
    assert first.status_code == 201 and first.json()["created"] is True
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert Annotation.objects.filter(item_id=item_id).count() == 1
    assert AnnotationRevision.objects.filter(annotation__item_id=item_id).count() == 1
    assert "progress" not in first.json(), "counts come with the claim, not with each submit"
    assert claim(api, project)["progress"]["mine_today"] == 1
    assert claim(api, project)["items"][0]["item"]["id"] != item_id


def test_bob_changes_his_label_and_the_history_keeps_both(project, bob):
    make_items(project, 2)
    api = client_for(bob)
    item_id = claim(api, project)["items"][0]["item"]["id"]
    submit(api, project, item_id, "positive")
    changed = submit(api, project, item_id, "negative")
    assert changed.status_code == 200
    assert changed.json()["annotation"]["revision"] == 2
    annotation = Annotation.objects.get(item_id=item_id)
    assert [r.value for r in annotation.revisions.all()] == ["positive", "negative"]
    history = api.get(url(project, "history/")).json()["items"]
    assert history[0]["item"]["id"] == item_id and history[0]["value"] == "negative"


def test_submit_without_a_lease_is_a_409_that_names_the_problem(project, bob):
    (item,) = make_items(project, 1)
    response = submit(client_for(bob), project, item.pk, "positive")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_lease"
    assert "queue" in response.json()["error"]["message"]


def test_an_invalid_value_is_a_400_naming_the_value(project, bob):
    make_items(project, 1)
    api = client_for(bob)
    item_id = claim(api, project)["items"][0]["item"]["id"]
    response = submit(api, project, item_id, "sarcastic")
    assert response.status_code == 400
    assert "sarcastic" in response.json()["error"]["message"]


def test_a_reclaimed_lease_is_refused_and_the_item_goes_to_carol(project, bob, carol):
    project.raters_per_item = 1
    project.save()
    make_items(project, 1)
    api = client_for(bob)
    item_id = claim(api, project)["items"][0]["item"]["id"]
    later = timezone.now() + timedelta(minutes=project.lease_minutes + 1)
    (carols,) = item_claim(project=project, rater=carol, now=later)
    assert carols.item.pk == item_id
    response = submit(api, project, item_id, "positive")
    assert response.status_code == 409 and response.json()["error"]["code"] == "lease_expired"


def test_skip_frees_the_slot_and_bob_never_sees_the_item_again(project, bob):
    make_items(project, 2)
    api = client_for(bob)
    first = claim(api, project)["items"][0]["item"]["id"]
    skipped = api.post(url(project, f"items/{first}/skip/"), {"reason": "unreadable"})
    assert skipped.status_code == 200 and skipped.json()["status"] == "skipped"
    assert Item.objects.get(pk=first).slots_taken == 0
    assert claim(api, project)["items"][0]["item"]["id"] != first


def test_the_claim_never_shows_other_raters_labels_nor_gold(project, bob, carol):
    (item,) = make_items(project, 1)
    Item.objects.filter(pk=item.pk).update(is_gold=True, gold_value="positive")
    project.gold_rate = 1.0
    project.save()
    submit(client_for(carol), project, claim(client_for(carol), project)["items"][0]["item"]["id"],
           "negative")  # fmt: skip
    body = claim(client_for(bob), project)
    text = str(body)
    assert "negative" not in text and "gold" not in text and "positive" not in text


def test_a_lead_assigns_a_batch_and_bob_gets_those_first(project, alice, bob):
    items = make_items(project, 10)
    wanted = [items[7].key, items[3].key]
    response = client_for(alice).post(
        f"/api/v1/projects/{project.pk}/assignments/",
        {"rater": "bob", "item_keys": [*wanted, "no-such-key"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["unknown"] == ["no-such-key"]
    api = client_for(bob)
    got = []
    for _ in range(2):
        item_id = claim(api, project)["items"][0]["item"]["id"]
        got.append(Item.objects.get(pk=item_id).key)
        assert submit(api, project, item_id, "neutral").status_code == 201
    assert sorted(got) == sorted(wanted)


def test_raters_cannot_assign(project, bob):
    response = client_for(bob).post(
        f"/api/v1/projects/{project.pk}/assignments/", {"rater": "bob", "item_ids": [1]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 403


def test_k_agreeing_annotations_make_an_item_agreed(project, bob, carol):
    make_items(project, 1)
    for rater in (bob, carol):
        api = client_for(rater)
        item_id = claim(api, project)["items"][0]["item"]["id"]
        assert submit(api, project, item_id, "positive").status_code == 201
    item = Item.objects.get()
    assert (item.status, item.annotation_count, item.slots_taken) == (ItemStatus.AGREED, 2, 2)
    assert claim(client_for(bob), project)["items"] == []


def test_removing_a_member_gives_their_held_items_back_to_the_queue(project, alice, bob, carol):
    from labeling.lead_assignment import items_assign
    from labeling.members import membership_remove
    from projects.models import Membership

    project.raters_per_item = 1
    project.save()
    (item,) = make_items(project, 1)
    items_assign(project=project, rater=bob, assigned_by=alice, item_ids=[item.pk])
    assert claim(client_for(carol), project)["items"] == [], "k=1 and bob holds it"
    membership_remove(membership=Membership.objects.get(project=project, user=bob))
    item.refresh_from_db()
    assert (item.slots_taken, item.status) == (0, ItemStatus.OPEN)
    assert claim(client_for(carol), project)["items"][0]["item"]["id"] == item.pk


def test_raters_see_neither_status_nor_counts_of_items(project, bob, alice):
    make_items(project, 2)
    rater_view = client_for(bob).get(f"/api/v1/projects/{project.pk}/items/").json()
    assert rater_view["results"]
    for row in rater_view["results"]:
        assert not {"status", "slots_taken", "annotation_count", "is_gold"} & set(row)
    filtered = client_for(bob).get(f"/api/v1/projects/{project.pk}/items/?status=conflict")
    assert filtered.status_code == 403
    lead_view = client_for(alice).get(f"/api/v1/projects/{project.pk}/items/").json()
    assert {"status", "slots_taken", "annotation_count"} <= set(lead_view["results"][0])


@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "before=x", "limit=1000"])
def test_a_bad_history_query_is_a_400_not_a_500(project, bob, query):
    response = client_for(bob).get(url(project, f"history/?{query}"))
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_resolved_items_take_no_new_work(project, alice, bob):
    from labeling.lead_assignment import items_assign

    (item,) = make_items(project, 1)
    api = client_for(bob)
    item_id = claim(api, project)["items"][0]["item"]["id"]
    Item.objects.filter(pk=item.pk).update(status=ItemStatus.RESOLVED)
    response = submit(api, project, item_id, "positive")
    assert response.status_code == 409 and response.json()["error"]["code"] == "item_closed"
    (other,) = make_items(project, 1, prefix="other")
    Item.objects.filter(pk=other.pk).update(status=ItemStatus.RESOLVED)
    result = items_assign(project=project, rater=bob, assigned_by=alice, item_ids=[other.pk])
    assert (result.assigned, result.full) == ([], [other.pk])


def test_the_hand_built_answers_match_their_documented_serializers(project, bob):
    """Claim and submit build their JSON by hand for speed; the schema shows the serializers."""
    from labeling.api import serializers as s

    items = make_items(project, 2)
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (10, 120, 200)).save(buffer, format="PNG")
    items[0].image = image_store(data=buffer.getvalue(), name="blue.png")
    items[0].data = {"source": "forum", "score": 3}
    items[0].save(update_fields=["image", "data"])
    holds = item_claim(project=project, rater=bob, hold=2)
    assert {h.item.pk for h in holds} == {i.pk for i in items}
    assert any(h.item.image_id for h in holds) and any(not h.item.image_id for h in holds)
    for hold in holds:
        reloaded = Item.objects.select_related("image").get(pk=hold.item.pk)
        documented = s.HoldSerializer(
            {"item": reloaded, "assignment": hold.assignment}, context={"rater_fields": ["score"]}
        ).data
        assert s.hold_data(hold, ["score"]) == documented
    result = annotation_submit(
        project=project, item_id=holds[0].item.pk, rater=bob, value="positive",
        client_id=uuid.uuid4(), time_spent_ms=1234,
    )  # fmt: skip
    stored = Annotation.objects.get(pk=result.annotation.pk)
    assert s.annotation_data(result.annotation) == s.AnnotationOutSerializer(stored).data


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"hold": 4}, "hold", "less than or equal to 3"),
        ({"hold": 0}, "hold", "greater than or equal to 1"),
        ({"hold": "two"}, "hold", "whole number"),
        ({"hold": "2"}, "hold", "whole number"),  # a JSON number, as the schema says
        ({"hold": True}, "hold", "whole number"),
    ],
)
def test_a_bad_claim_names_the_field(project, bob, body, field, message):
    response = client_for(bob).post(url(project, "claim/"), body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["fields"] and message in error["fields"][field][0]
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"client_id": str(uuid.uuid4())}, "value", "required"),
        ({"value": "positive"}, "client_id", "required"),
        ({"value": "positive", "client_id": "not-a-uuid"}, "client_id", "valid UUID"),
        ({"value": "positive", "client_id": str(uuid.uuid4()), "time_spent_ms": -5},
         "time_spent_ms", "greater than or equal to 0"),
    ],
)  # fmt: skip
def test_a_bad_submit_names_the_field_and_stores_nothing(project, bob, body, field, message):
    make_items(project, 1)
    api = client_for(bob)
    item_id = claim(api, project)["items"][0]["item"]["id"]
    response = api.post(url(project, f"items/{item_id}/submit/"), body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["fields"][field][0], error
    assert not Annotation.objects.exists()
    assert (
        api.post(url(project, "claim/"), "[1, 2]", content_type="application/json").json()["error"][
            "message"
        ]
        == "Expected a JSON object."
    )


def test_whole_floats_are_whole_numbers_but_other_json_types_are_refused(project, bob):
    make_items(project, 2)
    api = client_for(bob)
    body = api.post(url(project, "claim/"), {"hold": 2.0}, format="json").json()
    assert len(body["items"]) == 2
    item_id = body["items"][0]["item"]["id"]
    client_id = uuid.uuid4()
    submit_url = url(project, f"items/{item_id}/submit/")
    as_integer = api.post(submit_url, {"value": "positive", "client_id": client_id.int})
    assert as_integer.json()["error"]["fields"]["client_id"] == ["Must be a valid UUID."]
    response = api.post(submit_url,
                        {"value": "positive", "client_id": str(client_id), "time_spent_ms": 1500.0},
                        format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["annotation"]["client_id"] == str(client_id)
    assert response.json()["annotation"]["time_spent_ms"] == 1500
    null = api.post(url(project, "claim/"), {"hold": None}, format="json")
    assert null.json()["error"]["fields"]["hold"] == ["This field may not be null."]


def test_an_sqlite_too_old_for_returning_is_a_startup_error(monkeypatch):
    from labeling import apps

    monkeypatch.setattr(apps.sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(apps.sqlite3, "sqlite_version", "3.31.1")
    from django.db import connection

    errors = apps.sqlite_is_new_enough()
    if connection.vendor == "sqlite":
        assert [e.id for e in errors] == ["labeling.E001"] and "3.31.1" in errors[0].msg
    else:
        assert errors == []


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json; q=0.9"])
def test_claim_and_submit_answer_json_to_what_clients_accept(project, bob, accept):
    make_items(project, 1)
    client = client_for(bob)
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = client.post(url(project, "claim/"), {"hold": 1}, format="json", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    item_id = response.json()["items"][0]["item"]["id"]
    body = {"value": "positive", "client_id": str(uuid.uuid4())}
    answer = client.post(url(project, f"items/{item_id}/submit/"), body, format="json", **headers)
    assert answer.status_code == 201
    assert answer["Content-Type"] == "application/json"


def test_claim_refuses_a_client_that_accepts_no_json_with_a_406(project, bob):
    make_items(project, 1)
    response = client_for(bob).post(
        url(project, "claim/"), {"hold": 1}, format="json", HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 406
    assert Item.objects.filter(project=project, slots_taken__gt=0).count() == 0, "nothing taken"


@pytest.mark.parametrize("override", ["api", "xml"])
def test_a_format_override_is_refused_as_drf_refuses_it_and_claims_nothing(project, bob, override):
    make_items(project, 1)
    response = client_for(bob).post(
        url(project, f"claim/?format={override}"), {"hold": 1}, format="json"
    )
    assert response.status_code == 404
    assert Item.objects.filter(project=project, slots_taken__gt=0).count() == 0, "nothing taken"


def test_execute_wrappers_see_the_hand_written_statements_of_claim_and_submit(project, bob):
    """APM agents and query counters hook `connection.execute_wrapper`; the hot path's own
    cursor (core/sql.py) must not hide claims and submits from them."""
    from django.db import connection

    make_items(project, 2)
    api = client_for(bob)
    seen: list[str] = []

    def record(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        item_id = claim(api, project)["items"][0]["item"]["id"]
        assert submit(api, project, item_id, "positive").status_code == 201
    assert any("NOT EXISTS (SELECT 1 FROM labeling_assignment d" in s for s in seen), seen
    assert any(s.startswith("INSERT INTO labeling_annotation ") for s in seen), seen
    assert Annotation.objects.filter(item_id=item_id, rater=bob).exists()


def test_raters_see_only_the_item_fields_the_project_shows(project, alice, bob):
    """The imported row may hold the answer (the demo's generator did): raters see the text and
    the fields the lead names, nothing else, in the claim and in their history."""
    item = make_items(project, 1)[0]
    item.data = {"title": "Order #12", "intended_label": "negative", "model_guess": "negative"}
    item.save(update_fields=["data"])
    api = client_for(bob)
    base = f"/api/v1/projects/{project.pk}/labeling/"
    claimed = api.post(f"{base}claim/", {"hold": 1}, format="json").json()["items"][0]["item"]
    assert claimed["data"] == {}, "by default raters see the text or image only"

    project_update(project=Project.objects.get(pk=project.pk), rater_fields=["title"])
    claimed = api.post(f"{base}claim/", {"hold": 1}, format="json").json()["items"][0]["item"]
    assert claimed["data"] == {"title": "Order #12"}
    submitted = api.post(
        f"{base}items/{item.pk}/submit/",
        {"value": "positive", "client_id": str(uuid.uuid4())},
        format="json",
    )
    assert submitted.status_code == 201, submitted.content
    history = api.get(f"{base}history/").json()["items"]
    assert history[0]["item"]["data"] == {"title": "Order #12"}
    # The lead's own item API still shows the whole row.
    lead_view = client_for(alice).get(f"/api/v1/projects/{project.pk}/items/{item.pk}/").json()
    assert lead_view["data"]["intended_label"] == "negative"
