"""The webhooks API: alice, who leads the project, registers her pipeline's receiver (the secret
comes back once), pings it, reads every attempt of every delivery, redelivers one, changes and
deletes the webhook. Every refusal is the API's JSON error, and the schema documents each answer.

alice leads `project`, bob rates in it (403), mallory leads another project (404); a project
token is refused. The receiver is a real HTTP server on 127.0.0.1
(tests/exports/webhook_receiver.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from exports.models import DeliveryStatus, Webhook, WebhookDelivery
from exports.services.webhooks import webhook_create
from projects.services.archive import project_archive
from projects.services.tokens import project_token_create
from tests.api_clients import secret_client, session_client, token_client
from tests.exports.webhook_receiver import running_receiver
from tests.projects.test_api import assert_error

pytestmark = pytest.mark.django_db

API = "/api/v1"


def hooks_url(project: Any) -> str:
    return f"{API}/projects/{project.pk}/webhooks/"


def make_delivery(webhook: Webhook, n: int, status: str = DeliveryStatus.FAILED) -> Any:
    return WebhookDelivery.objects.create(
        webhook=webhook, event="dataset.version.ready", event_id=f"dataset.version.ready:{n}",
        payload={"event": "dataset.version.ready", "n": n}, status=status, attempts=1,
        attempt_log=[{"attempt": 1, "at": "2026-12-09T02:00:13+00:00", "status_code": 503,
                      "error": "The receiver answered 503 Service Unavailable.",
                      "seconds": 0.02, "response": "busy"}],
    )  # fmt: skip


def test_a_lead_registers_a_webhook_and_sees_its_secret_only_once(project, alice):
    api = session_client(alice)
    made = api.post(hooks_url(project), {"url": "https://ci.example.com/hooks/accord"})
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["dataset.version.ready"] and body["is_active"] is True
    assert body["created_by"] == "alice" and body["last_delivery"] is None
    assert Webhook.objects.get(pk=body["id"]).secret == body["secret"]

    listed = api.get(hooks_url(project)).json()["results"]
    detail = api.get(f"{hooks_url(project)}{body['id']}/").json()
    assert [w["id"] for w in listed] == [body["id"]]
    assert "secret" not in listed[0] and "secret" not in detail
    assert body["secret"] not in str(listed) + str(detail)


def test_a_personal_token_registers_one_too(project, alice):
    made = token_client(alice).post(hooks_url(project), {"url": "http://10.1.2.3:8080/in"})
    assert made.status_code == 201 and made.json()["url"] == "http://10.1.2.3:8080/in"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "ftp://files.example.com/in"}, "url", "Give an http:// or https:// URL"),
        ({"url": "http://me:pw@example.com/in"}, "url", "no user name or password"),
        ({"url": "https://h.example/x", "events": ["dataset.deleted"]}, "events", "not a valid"),
        ({"url": "https://h.example/x", "events": "dataset.version.ready"}, "events", "a list"),
        ({"url": "https://h.example/x", "secret": "mine"}, "secret", "Unknown field"),
        ({}, "url", "required"),
    ],
)
def test_a_bad_webhook_is_a_400_naming_the_field(project, alice, body, field, message):
    error = assert_error(session_client(alice).post(hooks_url(project), body), 400)
    assert field in error["fields"], error
    assert message in str(error["fields"][field]), error
    assert not Webhook.objects.exists()


def test_an_archived_project_takes_no_new_webhook_but_lets_one_be_deactivated(project, alice):
    webhook, _ = webhook_create(project=project, url="http://h.example/x", created_by=alice)
    project_archive(project=project)
    api = session_client(alice)
    error = assert_error(api.post(hooks_url(project), {"url": "http://h.example/y"}), 409)
    assert error["code"] == "project_archived"
    url = f"{hooks_url(project)}{webhook.pk}/"
    assert assert_error(api.patch(url, {"url": "http://h.example/z"}), 409)["code"] == (
        "project_archived"
    )
    off = api.patch(url, {"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False


def test_a_patch_changes_only_what_it_names(project, alice):
    webhook, _ = webhook_create(project=project, url="http://h.example/x", created_by=alice)
    url = f"{hooks_url(project)}{webhook.pk}/"
    api = session_client(alice)
    moved = api.patch(url, {"url": "https://h.example/v2"})
    assert moved.status_code == 200
    assert moved.json()["url"] == "https://h.example/v2" and moved.json()["is_active"] is True
    assert assert_error(api.patch(url, {"is_active": "no"}), 400)["fields"]["is_active"]
    assert assert_error(api.patch(url, {"active": False}), 400)["fields"]["active"]
    webhook.refresh_from_db()
    assert webhook.url == "https://h.example/v2" and webhook.is_active


def test_a_ping_is_answered_202_and_its_location_shows_the_receivers_answer(
    project, alice, django_capture_on_commit_callbacks
):
    api = session_client(alice)
    with running_receiver() as receiver:
        made = api.post(hooks_url(project), {"url": receiver.url}).json()
        receiver.secret = made["secret"]
        with django_capture_on_commit_callbacks(execute=True):
            ping = api.post(f"{hooks_url(project)}{made['id']}/ping/")
        assert ping.status_code == 202, ping.content
        assert ping.json()["event"] == "ping" and ping.json()["max_attempts"] == 1
        (call,) = receiver.calls
        assert call.verified and call.headers["X-Accord-Event"] == "ping"

    location = ping["Location"]
    assert location.startswith("http://testserver/api/v1/projects/")
    delivery = api.get(location).json()
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    (attempt,) = delivery["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["error"] == ""
    assert delivery["payload"]["webhook"]["id"] == made["id"]
    listed = api.get(hooks_url(project)).json()["results"][0]
    assert listed["last_delivery"]["status"] == "delivered"
    assert listed["last_delivery"]["event"] == "ping"


def test_deliveries_come_newest_first_in_cursor_pages_with_every_attempt(project, alice):
    webhook, _ = webhook_create(project=project, url="http://h.example/x", created_by=alice)
    made = [make_delivery(webhook, n) for n in range(3)]
    api = session_client(alice)
    url = f"{hooks_url(project)}{webhook.pk}/deliveries/"
    first = api.get(url, {"page_size": 2}).json()
    assert [d["id"] for d in first["results"]] == [made[2].pk, made[1].pk]
    second = api.get(first["next"]).json()
    assert [d["id"] for d in second["results"]] == [made[0].pk] and second["next"] is None
    row = first["results"][0]
    assert row["attempt_log"][0] == {
        "attempt": 1, "at": "2026-12-09T02:00:13+00:00", "status_code": 503,
        "error": "The receiver answered 503 Service Unavailable.", "seconds": 0.02,
        "response": "busy",
    }  # fmt: skip
    assert row["max_attempts"] == 4 and row["redelivery"] is None  # 3 retries in test settings
    assert_error(api.get(url, {"cursor": "nonsense"}), 400)


def test_a_lead_redelivers_a_failed_delivery(project, alice, django_capture_on_commit_callbacks):
    api = session_client(alice)
    with running_receiver() as receiver:
        webhook, receiver.secret = webhook_create(project=project, url=receiver.url,
                                                  created_by=alice)  # fmt: skip
        failed = make_delivery(webhook, 1)
        url = f"{hooks_url(project)}{webhook.pk}/deliveries/{failed.pk}/redeliver/"
        with django_capture_on_commit_callbacks(execute=True):
            again = api.post(url)
        assert again.status_code == 202, again.content
        assert receiver.calls[0].json == failed.payload and receiver.calls[0].verified
    body = api.get(again["Location"]).json()
    assert body["redelivery"] == 1 and body["status"] == "delivered"
    assert body["event_id"] == "dataset.version.ready:1:redelivery:1"

    pending = make_delivery(webhook, 2, status=DeliveryStatus.PENDING)
    refused = api.post(f"{hooks_url(project)}{webhook.pk}/deliveries/{pending.pk}/redeliver/")
    assert assert_error(refused, 409, message="still being delivered")["code"] == "conflict"


def test_ids_from_another_webhook_or_project_are_404(project, alice, mallory):
    mine, _ = webhook_create(project=project, url="http://h.example/a", created_by=alice)
    other, _ = webhook_create(project=project, url="http://h.example/b", created_by=alice)
    delivery = make_delivery(other, 1)
    theirs_project = mallory.memberships.get().project
    theirs, _ = webhook_create(project=theirs_project, url="http://h.example/c", created_by=mallory)
    api = session_client(alice)
    assert_error(api.get(f"{hooks_url(project)}{mine.pk}/deliveries/{delivery.pk}/"), 404)
    assert_error(api.post(f"{hooks_url(project)}{mine.pk}/deliveries/{delivery.pk}/redeliver/"),
                 404)  # fmt: skip
    assert_error(api.get(f"{hooks_url(project)}{theirs.pk}/"), 404)
    assert_error(api.delete(f"{hooks_url(project)}{theirs.pk}/"), 404)
    assert Webhook.objects.filter(pk=theirs.pk).exists()


def test_raters_and_pipeline_tokens_are_refused(project, alice, bob):
    webhook, _ = webhook_create(project=project, url="http://h.example/a", created_by=alice)
    _, secret = project_token_create(project=project, created_by=alice, name="nightly")
    for client in (session_client(bob), secret_client(secret)):
        assert_error(client.get(hooks_url(project)), 403)
        assert_error(client.post(f"{hooks_url(project)}{webhook.pk}/ping/"), 403)
    assert not WebhookDelivery.objects.exists()


def test_delete_removes_the_webhook_and_its_log(project, alice):
    webhook, _ = webhook_create(project=project, url="http://h.example/a", created_by=alice)
    make_delivery(webhook, 1)
    assert session_client(alice).delete(f"{hooks_url(project)}{webhook.pk}/").status_code == 204
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()


def test_the_list_reads_a_fixed_number_of_queries(project, alice, django_assert_max_num_queries):
    for n in range(5):
        webhook, _ = webhook_create(project=project, url=f"http://h.example/{n}", created_by=alice)
        make_delivery(webhook, n)
    api = session_client(alice)
    api.get(hooks_url(project))  # sessions and the like, once
    with django_assert_max_num_queries(6):
        results = api.get(hooks_url(project)).json()["results"]
    assert len(results) == 5 and all(w["last_delivery"]["status"] == "failed" for w in results)


# --- the schema --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return Client().get("/api/schema/", {"format": "json"}).json()


def test_the_schema_documents_every_answer_with_examples(schema):
    paths = schema["paths"]
    base = f"{API}/projects/{{project_pk}}/webhooks"
    create = paths[f"{base}/"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "413", "415", "429"} <= set(
        create["responses"]
    )
    created = create["responses"]["201"]["content"]["application/json"]
    assert created["schema"] == {"$ref": "#/components/schemas/WebhookCreated"}
    assert "secret" in schema["components"]["schemas"]["WebhookCreated"]["properties"]
    assert "secret" not in schema["components"]["schemas"]["Webhook"]["properties"]
    error_examples = create["responses"]["400"]["content"]["application/json"]["examples"]
    assert any(e["value"]["error"]["fields"].get("url") for e in error_examples.values())
    redeliver = paths[f"{base}/{{webhook_pk}}/deliveries/{{id}}/redeliver/"]["post"]
    assert {"202", "404", "409"} <= set(redeliver["responses"])
    assert "Location" in redeliver["responses"]["202"]["headers"]
    assert "still pending" in redeliver["responses"]["409"]["description"]
    ping = paths[f"{base}/{{id}}/ping/"]["post"]
    assert "Location" in ping["responses"]["202"]["headers"]
    deliveries = paths[f"{base}/{{webhook_pk}}/deliveries/"]["get"]["responses"]["200"]
    listed = deliveries["content"]["application/json"]["schema"]["$ref"]
    assert listed == "#/components/schemas/PaginatedWebhookDeliveryList"
    assert set(paths[f"{base}/{{id}}/"]) >= {"get", "patch", "delete"}
