"""Rate limits on the API and the sign-in lockout, as an attacker and a fast rater meet them.

alice leads `project`; bob rates in it; anonymous is nobody. The test settings' rates are out of
reach; each test here sets the ones it means to hit.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tests.api_clients import secret_client, session_client, token_client
from tests.factories import make_items

pytestmark = pytest.mark.django_db

API = "/api/v1"


def rates(**changed: str) -> Any:
    """override_settings with some of the API's rates changed."""
    framework = settings.REST_FRAMEWORK
    return override_settings(
        REST_FRAMEWORK={
            **framework,
            "DEFAULT_THROTTLE_RATES": {**framework["DEFAULT_THROTTLE_RATES"], **changed},
        }
    )


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert response["Content-Type"].startswith("application/json")
    assert int(response["Retry-After"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "throttled" and "available in" in error["message"]


def test_300_unknown_tokens_from_one_address_end_in_429s(alice):
    """Past the rate, a guess is told to wait, not whether it was right. A good token still
    works: looking at the count on every request would cost every rater's claim a round trip to
    the cache, and a guess of a 256-bit secret does not pay anyway."""
    with rates(failed_token="30/min"):
        statuses = [
            secret_client(f"acc_guess{n}").get(f"{API}/me/").status_code for n in range(300)
        ]
        assert statuses[:30] == [401] * 30
        assert set(statuses[30:]) == {429}
        assert_throttled(secret_client("acc_guess-again").get(f"{API}/me/"))
        assert token_client(alice).get(f"{API}/me/").status_code == 200
        other_address = secret_client("acc_guess-elsewhere")
        other_address.defaults["REMOTE_ADDR"] = "10.0.0.7"
        assert other_address.get(f"{API}/me/").status_code == 401


def test_good_tokens_never_count_as_failures(alice):
    with rates(failed_token="3/min"):
        api = token_client(alice)
        assert {api.get(f"{API}/me/").status_code for _ in range(10)} == {200}


def test_a_signed_in_caller_past_the_user_rate_gets_a_429_json(alice):
    api = session_client(alice)
    with rates(user="5/min"):
        assert [api.get(f"{API}/me/").status_code for _ in range(5)] == [200] * 5
        assert_throttled(api.get(f"{API}/me/"))


def test_each_pipeline_token_has_a_rate_of_its_own(project, alice):
    from projects.services.tokens import project_token_create

    first, second = (
        secret_client(project_token_create(project=project, created_by=alice, name=name)[1])
        for name in ("nightly", "hourly")
    )
    items = f"{API}/projects/{project.pk}/items/"
    with rates(user="3/min"):
        assert [first.get(items).status_code for _ in range(3)] == [200] * 3
        assert_throttled(first.get(items))
        assert second.get(items).status_code == 200


def test_anonymous_callers_are_limited_by_address(client):
    with rates(anon="3/min"):
        assert [client.get("/api/schema/").status_code for _ in range(3)] == [200] * 3
        assert_throttled(client.get("/api/schema/"))


def test_claim_and_submit_have_their_own_rates_not_the_users(project, bob):
    from core.api.throttles import ProcessRateThrottle

    ProcessRateThrottle.histories.clear()  # counted in this process, across tests
    make_items(project, 3)
    api = session_client(bob)
    claim_url = f"{API}/projects/{project.pk}/labeling/claim/"
    with rates(user="2/min", claim="4/min", submit="4/min"):
        claims = [api.post(claim_url, {}).status_code for _ in range(4)]
        assert claims == [200] * 4, "claims do not count against the user rate"
        assert_throttled(api.post(claim_url, {}))
        item_id = project.items.order_by("pk").values_list("pk", flat=True)[0]
        submit_url = f"{API}/projects/{project.pk}/labeling/items/{item_id}/submit/"
        body = {"value": "positive", "client_id": str(uuid.uuid4())}
        assert api.post(submit_url, body).status_code in (200, 201, 409)


def test_the_default_hot_path_rates_leave_room_for_the_benchmarks_raters():
    """bench/assignment.py: 16 raters, up to about 235 annotations/s at saturation, one claim
    and one submit each: about 15 claims and 15 submits per rater per second."""
    from config.settings import base

    per_rater = 235 / 16
    for scope in ("claim", "submit"):
        count, period = base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope].split("/")
        assert period == "s" and int(count) >= 2 * per_rater


# --- sign-in lockout ---------------------------------------------------------------------------


def sign_in(client: Client, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


LOCKED = "Too many wrong passwords"


def test_30_wrong_passwords_for_a_username_lock_it_even_with_the_right_one(alice):
    browser = Client()
    for n in range(30):
        response = sign_in(browser, "alice", f"wrong-{n}", address=f"10.1.0.{n}")
        assert response.status_code == 200 and LOCKED not in response.content.decode()
    response = sign_in(browser, "alice", "pw", address="10.2.0.1")
    assert response.status_code == 200, "no redirect: still on the sign-in page"
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in browser.session
    assert sign_in(Client(), "ALICE ", "pw", address="10.2.0.2").status_code == 200


def test_30_wrong_passwords_from_one_address_lock_that_address(alice, bob):
    for n in range(30):
        sign_in(Client(), f"nobody-{n}", "guess", address="10.3.0.1")
    assert LOCKED in sign_in(Client(), "bob", "pw", address="10.3.0.1").content.decode()
    assert sign_in(Client(), "bob", "pw", address="10.3.0.2").status_code == 302


def test_the_lockout_ends_when_its_window_has_passed(alice, settings):
    settings.ACCORD_LOGIN_FAILURE_LIMIT = 2
    settings.ACCORD_LOGIN_LOCKOUT_SECONDS = 1
    for _ in range(2):
        sign_in(Client(), "alice", "wrong")
    assert LOCKED in sign_in(Client(), "alice", "pw").content.decode()
    import time

    time.sleep(1.1)
    assert sign_in(Client(), "alice", "pw").status_code == 302


def test_the_admin_sign_in_is_locked_out_the_same_way(alice, settings):
    settings.ACCORD_LOGIN_FAILURE_LIMIT = 2
    for _ in range(2):
        Client().post("/admin/login/", {"username": "alice", "password": "wrong"})
    response = Client().post("/admin/login/", {"username": "alice", "password": "pw"})
    assert LOCKED in response.content.decode()
