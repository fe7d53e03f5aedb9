"""Each item's agreement through the API, as a lead and a pipeline read it: alice leads the project
(k = 3, majority rule) and holds its pipeline token; bob, carol and dave label in it, every label
through a claim and a submit.
"""

from __future__ import annotations

from typing import Any

import pytest

from agreement.models import Conflict
from agreement.services.conflicts import conflict_resolve
from projects.models import Project
from projects.services.tokens import project_token_create
from tests.agreement.test_api_conflicts import label_items
from tests.api_clients import secret_client, session_client
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def dave(db):
    return UserFactory(username="dave")


@pytest.fixture
def rated(alice, bob, carol, dave) -> dict[str, Any]:
    """Four items: agreed by all three, agreed two to one, a three-way split that alice
    resolved, and a three-way split still open; a fifth waits for its labels."""
    project = make_project(lead=alice, raters=[bob, carol, dave], raters_per_item=3)
    items = make_items(project, 5)
    unanimous, two_one, resolved, split, waiting = items
    label_items(
        project, [bob, carol, dave],
        {
            unanimous: ("positive",) * 3,
            two_one: ("negative", "negative", "positive"),
            resolved: ("positive", "negative", "neutral"),
            split: ("positive", "negative", "neutral"),
        },
    )  # fmt: skip
    label_items(project, [bob], {waiting: ("positive",)})
    conflict_resolve(conflict=Conflict.objects.get(item=resolved), lead=alice, value="neutral")
    return {"project": project, "items": items}


def url(project: Project) -> str:
    return f"{API}/projects/{project.pk}/agreement/items/"


def rows(api: Any, project: Project, **query: str) -> list[dict[str, Any]]:
    response = api.get(url(project), query)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_each_evaluated_item_with_its_consensus_status_and_label_of_record(rated, alice):
    project, (unanimous, two_one, resolved, split, _) = rated["project"], rated["items"]

    body = rows(session_client(alice), project)

    assert [row["item"]["id"] for row in body] == [i.pk for i in (unanimous, two_one, resolved,
                                                                   split)]  # fmt: skip
    by_key = {row["item"]["key"]: row for row in body}
    agreed = by_key[two_one.key]
    assert agreed["item"] == {"id": two_one.pk, "key": two_one.key, "status": "agreed"}
    assert (agreed["n_annotations"], agreed["consensus"], agreed["method"]) == (
        3, "negative", "majority",
    )  # fmt: skip
    assert agreed["observed"] == pytest.approx(1 / 3)
    assert agreed["confidence"] == pytest.approx(2 / 3)
    assert (agreed["passes"], agreed["tie"], agreed["label_pair"]) == (
        True, False, "negative | positive",
    )  # fmt: skip
    assert agreed["evaluated_at"]
    assert agreed["label_of_record"] == {
        "value": "negative", "source": "consensus", "method": "majority",
        "confidence": pytest.approx(2 / 3),
    }  # fmt: skip
    decided = by_key[resolved.key]
    assert decided["item"]["status"] == "resolved" and decided["tie"]
    assert decided["label_of_record"]["value"] == "neutral"
    assert decided["label_of_record"]["source"] == "resolution"
    open_split = by_key[split.key]
    assert open_split["item"]["status"] == "conflict" and open_split["label_of_record"] is None
    assert open_split["consensus"] is None and open_split["observed"] == 0


def test_filters(rated, alice):
    project, (unanimous, two_one, resolved, split, _) = rated["project"], rated["items"]
    api = session_client(alice)

    def keys(**query: str) -> list[str]:
        return [row["item"]["key"] for row in rows(api, project, **query)]

    assert keys(passes="true") == [unanimous.key, two_one.key]
    assert keys(passes="false", tie="true") == [resolved.key, split.key]
    assert keys(status="conflict,resolved") == [resolved.key, split.key]
    assert keys(status="agreed", max_observed="0.5") == [two_one.key]
    assert keys(min_observed="1") == [unanimous.key]
    assert keys(min_observed="0.2", max_observed="0.4") == [two_one.key]
    assert keys(label_pair="negative | positive") == [two_one.key]
    assert keys(item_key=split.key) == [split.key]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"min_observed": "1.5"}, "min_observed"),
        ({"max_observed": "nan"}, "max_observed"),
        ({"max_observed": "-0.1"}, "max_observed"),
        ({"min_observed": ""}, "min_observed"),
        ({"passes": "yes"}, "passes"),
        ({"tie": ""}, "tie"),
        ({"status": "done"}, "status"),
    ],
    ids=["above-one", "nan", "negative", "empty", "not-a-boolean", "empty-boolean", "status"],
)
def test_a_bad_filter_is_a_400_naming_it(rated, alice, query, field):
    response = session_client(alice).get(url(rated["project"]), query)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_pipelines_read_it_raters_do_not(rated, alice, bob, django_assert_num_queries):
    project = rated["project"]
    _, secret = project_token_create(project=project, created_by=alice, name="nightly")
    pipeline = secret_client(secret)
    pipeline.get(url(project))  # a token's first use records last_used_at

    with django_assert_num_queries(2):  # the token with its project; the page
        assert len(rows(pipeline, project)) == 4
    session = session_client(alice)
    # session, user, project and role; the page (items and their labels of record)
    with django_assert_num_queries(4):
        assert len(rows(session, project, page_size="2")) == 2
    assert session_client(bob).get(url(project)).status_code == 403
