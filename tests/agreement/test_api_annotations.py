"""The project's raw labels through the API, as a lead and a pipeline read them: alice leads the
project and holds its pipeline token, bob and carol label in it, and "worker A17" is an external
rater (named in an imported file, no account). mallory leads another project only.
"""

from __future__ import annotations

import uuid
from base64 import b64encode
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.assignment import item_claim
from labeling.members import membership_set
from labeling.models import Annotation
from labeling.services import annotation_submit
from projects.models import Item, LabelKind, Membership, Project, Role
from projects.services.tokens import project_token_create
from tests.api_clients import secret_client, session_client
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db

API = "/api/v1"
AN_HOUR_AGO = timedelta(hours=1)


def submit(project: Project, rater: Any, item_id: int, value: Any, **kwargs: Any) -> None:
    annotation_submit(
        project=project, item_id=item_id, rater=rater, value=value, client_id=uuid.uuid4(),
        time_spent_ms=1500, **kwargs,
    )  # fmt: skip


def label_all(project: Project, rater: Any, value: Any, **kwargs: Any) -> list[int]:
    """The rater labels every item their queue offers with `value`; the ids, in that order."""
    done: list[int] = []
    while holds := item_claim(project=project, rater=rater, hold=3):
        for hold in holds:
            submit(project, rater, hold.item.pk, value, **kwargs)
            done.append(hold.item.pk)
    return done


def external_rater(project: Project, name: str) -> Any:
    """A rater who will be made external (`make_external`) once their labels are in: an
    external rater never claims, so the labels go in first, as an import would leave them."""
    user = UserFactory(username=f"ext:{project.pk}:{name.split()[-1]}")
    membership_set(project=project, user=user, role=Role.RATER)
    user.external_name = name
    return user


def make_external(project: Project, user: Any) -> None:
    """An external rater, as an annotation import makes one: an account nobody signs in with,
    and the name the file gave on the membership."""
    Membership.objects.filter(project=project, user=user).update(
        is_external=True, external_name=user.external_name
    )


def url(project: Project) -> str:
    return f"{API}/projects/{project.pk}/annotations/"


def pipeline(project: Project, lead: Any, scopes: tuple[str, ...] = ("items:read",)) -> Any:
    _, secret = project_token_create(project=project, created_by=lead, name="nightly",
                                     scopes=scopes)  # fmt: skip
    return secret_client(secret)


def walk(api: Any, first: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a list, page after page."""
    page = api.get(first, query).json()
    rows = list(page["results"])
    while page["next"]:
        page = api.get(page["next"]).json()
        rows += page["results"]
    return rows


@pytest.fixture
def crowd(alice, bob, carol) -> Project:
    """Three items labeled by bob, carol and worker A17 an hour ago (k = 3); bob changed his
    mind on the first of his since."""
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=3, name="Crowd")
    make_items(project, 3)
    worker = external_rater(project, "worker A17")
    then = timezone.now() - AN_HOUR_AGO
    for rater, value in ((bob, "positive"), (carol, "positive"), (worker, "negative")):
        label_all(project, rater, value, now=then)
    make_external(project, worker)
    first = Annotation.objects.filter(rater=bob).order_by("pk").first()
    assert first is not None
    submit(project, bob, first.item_id, "neutral")
    return project


# --- reading ------------------------------------------------------------------------------------


def test_a_lead_reads_every_annotation_with_its_rater_item_and_value(crowd, alice):
    rows = walk(session_client(alice), url(crowd), {})

    assert [row["id"] for row in rows] == sorted(Annotation.objects.values_list("pk", flat=True))
    assert len(rows) == 9
    by_rater: dict[str, list[Any]] = {}
    for row in rows:
        by_rater.setdefault(row["rater"], []).append(row["value"])
    assert sorted(by_rater["bob"]) == ["neutral", "positive", "positive"]
    assert by_rater["carol"] == ["positive"] * 3
    assert by_rater["worker A17"] == ["negative"] * 3
    assert {row["is_external"] for row in rows if row["rater"] == "worker A17"} == {True}
    assert {row["is_external"] for row in rows if row["rater"] != "worker A17"} == {False}
    row = rows[0]
    item = Item.objects.get(pk=row["item"]["id"])
    assert row["item"] == {"id": item.pk, "key": item.key}
    assert set(row) == {"id", "rater", "is_external", "item", "value", "revision",
                        "time_spent_ms", "created_at", "updated_at"}  # fmt: skip
    assert {r["time_spent_ms"] for r in rows if r["revision"] == 1} == {1500}
    edited = [row for row in rows if row["revision"] == 2]
    assert [(row["rater"], row["value"]) for row in edited] == [("bob", "neutral")]
    assert edited[0]["updated_at"] > edited[0]["created_at"]


def test_revisions_come_when_asked(crowd, alice):
    rows = walk(session_client(alice), url(crowd), {"include": "revisions"})
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    described = schema["components"]["schemas"]["AnnotationRow"]
    assert "revisions" not in described["required"], "only when asked"
    assert all(
        set(described["required"]) <= set(row) <= set(described["properties"]) for row in rows
    )

    [edited] = [row for row in rows if row["revision"] == 2]
    assert [(r["revision"], r["value"]) for r in edited["revisions"]] == [
        (1, "positive"), (2, "neutral"),
    ]  # fmt: skip
    assert all(len(row["revisions"]) == row["revision"] for row in rows)


def test_multi_label_and_rating_values_have_the_api_shape(alice, bob):
    tags = make_project(lead=alice, raters=[bob], raters_per_item=1, label_kind=LabelKind.MULTI,
                        name="Tags")  # fmt: skip
    stars = make_project(lead=alice, raters=[bob], raters_per_item=1,
                         label_kind=LabelKind.RATING, name="Stars")  # fmt: skip
    for project in (tags, stars):
        make_items(project, 2)
    label_all(tags, bob, ["neutral", "positive"])
    label_all(stars, bob, 4)
    api = session_client(alice)

    assert [r["value"] for r in walk(api, url(tags), {})] == [["neutral", "positive"]] * 2
    assert [r["value"] for r in walk(api, url(stars), {})] == [4, 4]


# --- filters and pages --------------------------------------------------------------------------


def test_filters_by_rater_external_name_item_key_and_update_time(crowd, alice, bob):
    api = session_client(alice)

    def raters(**query: str) -> list[str]:
        response = api.get(url(crowd), query)
        assert response.status_code == 200, response.content
        return [row["rater"] for row in response.json()["results"]]

    assert raters(rater="bob") == ["bob"] * 3
    assert raters(rater="worker A17") == ["worker A17"] * 3
    assert raters(rater="nobody") == []
    assert sorted(raters(item_key="item-1")) == ["bob", "carol", "worker A17"]
    recently = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert raters(updated_after=recently) == ["bob"]
    assert len(raters(updated_after=(timezone.now() - 2 * AN_HOUR_AGO).isoformat())) == 9
    assert raters(rater="bob", item_key="item-1") == ["bob"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"updated_after": "yesterday"}, "updated_after"),
        ({"updated_after": ""}, "updated_after"),
        ({"include": "everything"}, "include"),
        ({"include": ""}, "include"),
        ({"page_size": "0"}, "page_size"),
        ({"cursor": b64encode(b"p=abc").decode()}, "cursor"),
    ],
    ids=["date", "empty-date", "include", "empty-include", "page-size", "cursor"],
)
def test_a_bad_parameter_is_a_400_naming_it(crowd, alice, query, field):
    response = session_client(alice).get(url(crowd), query)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_pages_follow_the_ids_up_and_back(crowd, alice):
    api = session_client(alice)
    ids = sorted(Annotation.objects.values_list("pk", flat=True))
    first = api.get(url(crowd), {"page_size": 4}).json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    assert [r["id"] for r in first["results"] + second["results"] + third["results"]] == ids
    assert third["next"] is None
    assert [r["id"] for r in api.get(third["previous"]).json()["results"]] == ids[4:8]


# --- who reads them -----------------------------------------------------------------------------


def test_leads_and_the_project_s_pipelines_read_them_raters_and_others_do_not(
    crowd, alice, bob, mallory
):
    assert len(walk(pipeline(crowd, alice), url(crowd), {})) == 9

    no_scope = pipeline(crowd, alice, scopes=("datasets:read",)).get(url(crowd))
    assert no_scope.status_code == 403 and "items:read" in no_scope.json()["error"]["message"]
    rater = session_client(bob).get(url(crowd))
    assert rater.status_code == 403
    assert "Only a lead of this project" in rater.json()["error"]["message"]
    assert session_client(mallory).get(url(crowd)).status_code == 404
    theirs = pipeline(Project.objects.get(name="Mallory's own project"), mallory)
    assert theirs.get(url(crowd)).status_code == 404


# --- cost ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [LabelKind.SINGLE, LabelKind.MULTI])
def test_a_page_costs_a_fixed_number_of_queries_whatever_its_size(
    alice, bob, carol, kind, django_assert_num_queries
):
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2, label_kind=kind)
    make_items(project, 30)
    value = "positive" if kind == LabelKind.SINGLE else ["negative", "positive"]
    label_all(project, bob, value)
    label_all(project, carol, value)
    external_rater(project, "worker A17")
    chosen = 1 if kind == LabelKind.MULTI else 0
    session = session_client(alice)
    token = pipeline(project, alice)
    token.get(url(project))  # a token's first use records last_used_at

    for page_size in (5, 60):
        # session, user, project and role; the page (labels, raters, external names, items)
        with django_assert_num_queries(4 + chosen):
            assert (
                len(session.get(url(project), {"page_size": page_size}).json()["results"])
                == page_size
            )
        # ... and the revisions, when asked
        with django_assert_num_queries(5 + chosen):
            session.get(url(project), {"page_size": page_size, "include": "revisions"})
        # the token with its project and role; the page
        with django_assert_num_queries(2 + chosen):
            assert token.get(url(project), {"page_size": page_size}).status_code == 200
    # Filtering by rater looks the rater up first: one query more.
    with django_assert_num_queries(5 + chosen):
        assert len(session.get(url(project), {"rater": "bob"}).json()["results"]) == 30


def test_the_page_query_reads_the_project_s_rows_in_id_order(crowd, alice):
    """The page is `WHERE project_id = ? [AND id > ?] ORDER BY id LIMIT n + 1`: an index on
    (project, id) serves it in order and stops after n + 1 rows, however many annotations the
    project (and every other project) has."""
    api = session_client(alice)
    first = api.get(url(crowd), {"page_size": 2}).json()
    with CaptureQueriesContext(connection) as queries:
        assert api.get(first["next"]).status_code == 200
    [page] = [q["sql"] for q in queries.captured_queries if "labeling_annotation" in q["sql"]
              and "LIMIT" in q["sql"]]  # fmt: skip
    assert '"labeling_annotation"."project_id" = ' in page
    assert '"labeling_annotation"."id" > ' in page
    assert page.rstrip().endswith("LIMIT 3")
    assert 'ORDER BY "labeling_annotation"."id" ASC' in page


def test_an_index_serves_the_page_query():
    """Without it, PostgreSQL pages a project whose rows come after another large project's by
    walking the primary key past all of them (360 ms for the first page behind 1,000,000
    rows, against 0.8 ms with the index)."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "labeling_annotation")
    leading = {tuple(c["columns"][:2]) for c in found.values() if c["index"] or c["unique"]}
    assert ("project_id", "id") in leading
