"""The conflict queue through the API, as a lead works it: alice leads the project, bob, carol,
dave and erin label (k = 3), every label through a claim and a submit as on the labeling page, so
every conflict here arose from real labels. mallory leads another project only.
"""

from __future__ import annotations

import uuid
from base64 import b64encode
from typing import Any

import pytest
from django.test import Client

from agreement.models import Conflict, ConflictStatus, ItemEvent, LabelOfRecord, LabelSource
from labeling.assignment import item_claim
from labeling.members import membership_set
from labeling.services import annotation_submit
from projects.models import AgreementRule, Item, ItemStatus, Membership, Project, Role
from projects.services.archive import project_archive
from projects.services.tokens import project_token_create
from tests.api_clients import secret_client, session_client, token_client
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db

API = "/api/v1"
SPLIT = ("positive", "negative", "neutral")  # three raters, three values: observed 0, a tie
TWO_ONE = ("positive", "positive", "negative")  # observed 1/3: a conflict under unanimous


@pytest.fixture
def dave(db):
    return UserFactory(username="dave")


@pytest.fixture
def erin(db):
    return UserFactory(username="erin")


@pytest.fixture
def sentiment(alice, bob, carol, dave, erin) -> Project:
    return make_project(
        lead=alice, raters=[bob, carol, dave, erin], raters_per_item=3,
        agreement_rule=AgreementRule.UNANIMOUS,
    )  # fmt: skip


def label(project: Project, rater: Any, item: Item, value: Any) -> None:
    label_items(project, [rater], {item: (value,)})


def label_items(project: Project, raters: list[Any], values: dict[Item, tuple[Any, ...]]) -> None:
    """Each rater in turn takes items from their queue and labels those of `values` with theirs
    (the rater's place in `raters` is the place of their value), until all are labeled."""
    for place, rater in enumerate(raters):
        wanted = {item.pk: item_values[place] for item, item_values in values.items()}
        while wanted:
            holds = item_claim(project=project, rater=rater, hold=3)
            offered = [hold.item.pk for hold in holds if hold.item.pk in wanted]
            assert offered, "the rater's queue did not offer the items"
            for item_id in offered:
                annotation_submit(
                    project=project, item_id=item_id, rater=rater, value=wanted.pop(item_id),
                    client_id=uuid.uuid4(),
                )  # fmt: skip


def labeled(project: Project, item: Item, raters: list[Any], values: tuple[Any, ...]) -> Item:
    label_items(project, raters, {item: values})
    return item


def conflict_of(item: Item) -> Conflict:
    return Conflict.objects.get(item=item)


def url(project: Project, conflict: Conflict | None = None, action: str = "") -> str:
    base = f"{API}/projects/{project.pk}/conflicts/"
    if conflict is None:
        return base
    return f"{base}{conflict.pk}/" + (f"{action}/" if action else "")


def assert_error(response: Any, status: int, code: str, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    for word in words:
        assert word in error["message"], error["message"]
    return error


@pytest.fixture
def queue(sentiment, bob, carol, dave) -> dict[str, Item]:
    """Three conflicts: a three-way split (agreement 0), a 2-1 split (1/3, a conflict under the
    unanimous rule), and another three-way split; and one item the raters agree on."""
    split, close, later, agreed = make_items(sentiment, 4)
    label_items(
        sentiment, [bob, carol, dave],
        {split: SPLIT, close: TWO_ONE, later: SPLIT, agreed: ("neutral",) * 3},
    )  # fmt: skip
    return {"split": split, "close": close, "later": later, "agreed": agreed}


# --- the queue ----------------------------------------------------------------------------------


def test_a_lead_lists_the_conflicts_lowest_agreement_first(sentiment, queue, alice):
    response = session_client(alice).get(url(sentiment))

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    # The two three-way splits (agreement 0) by id, then the 2-1 split.
    ties = sorted([conflict_of(queue["split"]), conflict_of(queue["later"])], key=lambda c: c.pk)
    assert [row["id"] for row in rows] == [*(c.pk for c in ties), conflict_of(queue["close"]).pk]
    split = next(row for row in rows if row["item"]["key"] == "item-0")
    assert split["item"] == {"id": queue["split"].pk, "key": "item-0"}
    assert (split["status"], split["observed"], split["times_opened"]) == ("open", 0.0, 1)
    assert split["label_pair"] == "negative | neutral"  # the top two of a three-way tie, sorted
    assert split["consensus"] == {
        "value": None, "confidence": pytest.approx(1 / 3), "method": "majority", "tie": True
    }  # fmt: skip
    assert split["label_of_record"] is None and split["closed_at"] is None
    close = rows[2]
    assert close["observed"] == pytest.approx(1 / 3)
    assert close["consensus"]["value"] == "positive" and not close["consensus"]["tie"]


def test_the_queue_filters_by_status_label_pair_and_item_key(sentiment, queue, alice):
    api = session_client(alice)
    conflict_resolve_by_api(api, sentiment, conflict_of(queue["later"]), "neutral")

    def keys(**query: str) -> list[str]:
        response = api.get(url(sentiment), query)
        assert response.status_code == 200, response.content
        return [row["item"]["key"] for row in response.json()["results"]]

    assert keys(status="open") == ["item-0", "item-1"]
    assert keys(status="resolved") == ["item-2"]
    assert sorted(keys(status="open,resolved")) == ["item-0", "item-1", "item-2"]
    assert keys(status="waiting,ambiguous,settled") == []
    assert keys(label_pair="negative | positive") == ["item-1"]
    assert keys(item_key="item-2") == ["item-2"]
    assert keys(item_key="item-3") == []  # agreed: never a conflict
    bad = api.get(url(sentiment), {"status": "open,closed"})
    assert "status" in assert_error(bad, 400, "invalid")["fields"]


def test_conflicts_with_no_agreement_figure_come_last_and_pages_walk_through_ties(
    alice, bob, carol
):
    """With two raters every conflict's agreement is 0: the pages must walk through the ties
    by id, both ways, and meet each conflict once."""
    pairs = make_project(lead=alice, raters=[bob, carol], raters_per_item=2, name="Pairs")
    items = make_items(pairs, 7)
    label_items(pairs, [bob, carol], dict.fromkeys(items, ("positive", "negative")))
    # One conflict with no figure, as a one-label item under a label-model rule would have.
    Conflict.objects.filter(item=items[1]).update(observed=None)
    ties = Conflict.objects.filter(project=pairs, observed=0).order_by("pk")
    expected = [*ties.values_list("pk", flat=True), conflict_of(items[1]).pk]
    assert len(expected) == 7
    api = session_client(alice)

    seen, page = [], api.get(url(pairs), {"page_size": 2}).json()
    assert page["previous"] is None
    while True:
        seen += [row["id"] for row in page["results"]]
        if page["next"] is None:
            break
        page = api.get(page["next"]).json()
    assert seen == expected
    back = []
    while page["previous"] is not None:
        page = api.get(page["previous"]).json()
        back = [row["id"] for row in page["results"]] + back
    assert back == expected[:-1]  # every page before the last one, in order


def test_a_cursor_gives_back_an_agreement_of_one_third_exactly(sentiment, queue, alice):
    """The 2-1 split's agreement (1/3) is the last page's position: the page before it must
    be found by comparing with the very float the database stored."""
    api = session_client(alice)
    pages = [api.get(url(sentiment), {"page_size": 1}).json()]
    while pages[-1]["next"]:
        pages.append(api.get(pages[-1]["next"]).json())
    assert [page["results"][0]["observed"] for page in pages] == [0, 0, pytest.approx(1 / 3)]
    before_last = api.get(pages[-1]["previous"]).json()
    assert before_last["results"] == pages[1]["results"]
    assert before_last["next"] and before_last["previous"]


@pytest.mark.parametrize(
    "position",
    ["1~2~x", "abc~3", "inf~3", "nan~3", "0.5", "0.5~-1", None],
    ids=["garbage", "not-a-number", "inf", "nan", "no-id", "negative-id", "no-position"],
)
def test_a_cursor_the_queue_did_not_hand_out_is_a_400_naming_it(sentiment, alice, position):
    tokens = "r=0" if position is None else f"p={position}"
    cursor = b64encode(tokens.encode()).decode()
    response = session_client(alice).get(url(sentiment), {"cursor": cursor})
    assert "cursor" in assert_error(response, 400, "invalid")["fields"]


def test_the_queue_and_a_conflict_are_read_in_a_fixed_number_of_queries(
    sentiment, alice, bob, carol, dave, django_assert_num_queries
):
    label_items(sentiment, [bob, carol, dave], dict.fromkeys(make_items(sentiment, 6), SPLIT))
    conflict = Conflict.objects.order_by("pk").first()
    api = session_client(alice)
    # session, user, project and role, the page (conflicts with items, consensus and labels)
    with django_assert_num_queries(4):
        assert len(api.get(url(sentiment), {"page_size": 3}).json()["results"]) == 3
    with django_assert_num_queries(4):
        assert len(api.get(url(sentiment)).json()["results"]) == 6
    # ... the conflict, its labels with their raters, its decisions, the item's history
    with django_assert_num_queries(7):
        assert len(api.get(url(sentiment, conflict)).json()["annotations"]) == 3
    script = token_client(alice)
    script.get(url(sentiment))  # a token's first use records last_used_at
    with django_assert_num_queries(2):  # the token with its user, project and role; the page
        assert script.get(url(sentiment)).status_code == 200


# --- one conflict -------------------------------------------------------------------------------


def test_a_conflict_shows_every_label_decision_and_line_of_history(
    sentiment, queue, alice, bob, carol, dave
):
    api = session_client(alice)
    conflict = conflict_of(queue["split"])
    api.post(url(sentiment, conflict, "resolve"), {"action": "ambiguous", "note": "both hold"})
    api.post(url(sentiment, conflict, "reopen"), {"note": "new guidelines"})

    body = api.get(url(sentiment, conflict)).json()

    assert (body["id"], body["status"], body["times_opened"]) == (conflict.pk, "open", 2)
    labels = [
        (a["rater"], a["is_external"], a["value"], a["revision"]) for a in body["annotations"]
    ]
    assert labels == [
        ("bob", False, "positive", 1), ("carol", False, "negative", 1),
        ("dave", False, "neutral", 1),
    ]  # fmt: skip
    assert all(a["created_at"] and a["updated_at"] for a in body["annotations"])
    decisions = [
        (r["action"], r["lead"], r["status_before"], r["status_after"], r["note"])
        for r in body["resolutions"]
    ]
    assert decisions == [
        ("ambiguous", "alice", "open", "ambiguous", "both hold"),
        ("reopen", "alice", "ambiguous", "open", "new guidelines"),
    ]
    kinds = [(event["kind"], event["actor"]) for event in body["history"]]
    assert kinds == [("conflict", "dave"), ("resolution", "alice"), ("resolution", "alice")]
    assert "marked the item ambiguous" in body["history"][1]["message"]


def test_an_external_rater_is_named_as_their_file_named_them(alice, bob):
    project = make_project(lead=alice, raters=[bob], raters_per_item=2, name="Crowd")
    # An external rater, as an annotation import makes one: an account nobody signs in with,
    # and the name the file gave on the membership.
    worker = UserFactory(username=f"ext:{project.pk}:1")
    membership_set(project=project, user=worker, role=Role.RATER)
    [item] = make_items(project, 1)
    labeled(project, item, [bob, worker], ("positive", "negative"))
    # Made external once the labels are in (an external rater never claims).
    Membership.objects.filter(project=project, user=worker).update(
        is_external=True, external_name="worker A17"
    )

    body = session_client(alice).get(url(project, conflict_of(item))).json()

    assert [(a["rater"], a["is_external"]) for a in body["annotations"]] == [
        ("bob", False), ("worker A17", True),
    ]  # fmt: skip


def test_a_conflict_of_another_project_is_not_found(sentiment, queue, alice, mallory):
    conflict = conflict_of(queue["split"])
    theirs = Project.objects.get(name="Mallory's own project")
    assert_error(session_client(mallory).get(url(theirs, conflict)), 404, "not_found")
    assert_error(session_client(alice).get(f"{url(sentiment)}999999/"), 404, "not_found")


# --- deciding -----------------------------------------------------------------------------------


def conflict_resolve_by_api(api: Any, project: Project, conflict: Conflict, value: Any) -> Any:
    response = api.post(url(project, conflict, "resolve"), {"action": "label", "value": value})
    assert response.status_code == 200, response.content
    return response.json()


def test_resolving_chooses_the_label_of_record_and_answers_the_next_open_conflict(
    sentiment, queue, alice, bob
):
    api = session_client(alice)
    first, second, third = (conflict_of(queue[k]) for k in ("split", "later", "close"))

    body = api.post(
        url(sentiment, first, "resolve"),
        {"action": "label", "value": "negative", "note": "Sarcasm."},
    ).json()

    assert body["status"] == "resolved" and body["closed_at"] is not None
    assert body["label_of_record"] == {
        "value": "negative", "source": "resolution", "method": "lead", "confidence": None
    }  # fmt: skip
    assert body["resolutions"][-1]["value_after"] == "negative"
    assert body["resolutions"][-1]["note"] == "Sarcasm."
    assert body["next"] == {"id": second.pk, "url": url(sentiment, second)}
    record = LabelOfRecord.objects.get(item=queue["split"])
    assert (record.value, record.source) == ("negative", LabelSource.RESOLUTION)
    queue["split"].refresh_from_db()
    assert queue["split"].status == ItemStatus.RESOLVED
    # Following `next` to the end of the queue.
    assert conflict_resolve_by_api(api, sentiment, second, "neutral")["next"]["id"] == third.pk
    assert conflict_resolve_by_api(api, sentiment, third, "positive")["next"] is None


def test_a_decision_already_taken_is_a_409_and_changes_nothing(sentiment, queue, alice):
    api = session_client(alice)
    conflict = conflict_of(queue["split"])
    conflict_resolve_by_api(api, sentiment, conflict, "negative")

    again = api.post(url(sentiment, conflict, "resolve"), {"action": "label", "value": "positive"})

    assert_error(again, 409, "conflict", "resolved", "cannot be resolved now")
    assert LabelOfRecord.objects.get(item=queue["split"]).value == "negative"
    more = api.post(url(sentiment, conflict, "resolve"), {"action": "more_raters"})
    assert_error(more, 409, "conflict", "cannot be sent to one more rater")
    assert_error(api.post(url(sentiment, conflict_of(queue["close"]), "reopen"), {}), 409,
                 "conflict", "cannot be reopened")  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"action": "label", "value": "joyful"}, "value", ["'joyful'", "not a label"]),
        ({"action": "label", "value": ["positive"]}, "value", ["['positive']"]),
        ({"action": "label"}, "value", ["needs a value"]),
        ({"action": "more_raters", "value": "positive"}, "value", ["Only action 'label'"]),
        ({"action": "close"}, "action", ['"close" is not a valid choice']),
        ({"action": "label", "value": "positive", "vaule": 1}, "vaule", ["Unknown field"]),
        ({"action": "ambiguous", "note": 5}, "note", ["Expected a string"]),
        ({"action": "ambiguous", "note": "x" * 2001}, "note", ["2000"]),
    ],
    ids=["not-a-label", "wrong-shape", "no-value", "value-not-taken", "unknown-action",
         "misspelt-field", "note-not-text", "note-too-long"],
)  # fmt: skip
def test_a_bad_decision_is_a_400_naming_the_field_and_the_value(
    sentiment, queue, alice, body, field, words
):
    conflict = conflict_of(queue["split"])
    response = session_client(alice).post(url(sentiment, conflict, "resolve"), body)

    error = assert_error(response, 400, "invalid")
    for word in words:
        assert word in " ".join(error["fields"][field]), error
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN and not conflict.resolutions.exists()


def test_one_more_rater_and_ambiguous_through_the_api(sentiment, queue, alice, erin):
    api = session_client(alice)
    split, close = conflict_of(queue["split"]), conflict_of(queue["close"])

    waiting = api.post(url(sentiment, split, "resolve"), {"action": "more_raters"}).json()
    assert (
        waiting["status"] == "waiting" and waiting["next"]["id"] == conflict_of(queue["later"]).pk
    )
    # erin, who had not seen the item, labels it: 2-1-1, still not unanimous, so the conflict
    # is open for the lead again.
    label(sentiment, erin, queue["split"], "positive")
    assert api.get(url(sentiment, split)).json()["status"] == "open"

    ambiguous = api.post(url(sentiment, close, "resolve"), {"action": "ambiguous"}).json()
    assert ambiguous["status"] == "ambiguous" and ambiguous["label_of_record"] is None
    queue["close"].refresh_from_db()
    assert queue["close"].status == ItemStatus.RESOLVED


def test_reopening_takes_the_lead_s_label_back(sentiment, queue, alice):
    api = session_client(alice)
    conflict = conflict_of(queue["split"])
    conflict_resolve_by_api(api, sentiment, conflict, "negative")

    response = api.post(url(sentiment, conflict, "reopen"), {"note": "Too quick."})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["times_opened"], body["label_of_record"]) == ("open", 2, None)
    assert "next" not in body
    assert body["resolutions"][-1]["action"] == "reopen"
    assert not LabelOfRecord.objects.filter(item=queue["split"]).exists()
    assert ItemEvent.objects.filter(item=queue["split"], message__contains="Too quick.").exists()


def test_deciding_in_an_archived_project_is_a_409(sentiment, queue, alice):
    project_archive(project=sentiment)
    response = session_client(alice).post(
        url(sentiment, conflict_of(queue["split"]), "resolve"), {"action": "ambiguous"}
    )
    assert_error(response, 409, "project_archived")


def test_raters_and_pipelines_cannot_see_or_decide_conflicts(sentiment, queue, alice, bob):
    conflict = conflict_of(queue["split"])
    _, secret = project_token_create(project=sentiment, created_by=alice, name="nightly",
                                     scopes=["items:read", "datasets:read"])  # fmt: skip
    for api in (session_client(bob), secret_client(secret)):
        assert_error(api.get(url(sentiment)), 403, "permission_denied")
        resolve = api.post(url(sentiment, conflict, "resolve"), {"action": "ambiguous"})
        assert_error(resolve, 403, "permission_denied")
    assert conflict_of(queue["split"]).status == ConflictStatus.OPEN


# --- the schema ---------------------------------------------------------------------------------


def test_the_schema_shows_each_decision_by_example_and_its_errors_and_the_answer_fits_it(
    sentiment, queue, alice
):
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    path = f"{API}/projects/{{project_pk}}/conflicts/{{conflict_id}}/resolve/"
    resolve = schema["paths"][path]["post"]
    examples = resolve["requestBody"]["content"]["application/json"]["examples"].values()
    assert {example["value"]["action"] for example in examples} == {
        "label", "more_raters", "ambiguous",
    }  # fmt: skip
    responses = resolve["responses"]
    assert {"200", "400", "403", "404", "409"} <= set(responses)
    for code in ("200", "400", "409"):
        assert responses[code]["content"]["application/json"]["examples"], code
    ref = responses["200"]["content"]["application/json"]["schema"]["$ref"]
    described = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]

    body = conflict_resolve_by_api(
        session_client(alice), sentiment, conflict_of(queue["split"]), "negative"
    )

    assert set(described["required"]) <= set(body) <= set(described["properties"])
